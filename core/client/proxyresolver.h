// Chooses the proxy a WebSocket goes through: an explicit http:// or socks5:// URL, "none",
// "system" (Qt's platform configuration, PAC included where the platform provides it), or by
// default the HTTPS_PROXY / HTTP_PROXY / NO_PROXY variables as the original Go tool reads them.
#pragma once

#include <QNetworkProxy>
#include <QProcessEnvironment>
#include <QString>
#include <QUrl>
#include <optional>

namespace ProxyResolver {

// Checks a --proxy value; false with a readable reason in *error when it cannot be used.
bool validate(const QString &setting, QString *error);

// The proxy for a WebSocket URL (ws:// or wss://). QNetworkProxy::NoProxy when none applies.
// The variables come from `environment`, or without one from the process's own, read as they are
// now (a few getenv() calls: this runs for every connection, and a copy of the whole environment
// was 15 % of a busy client's instructions).
std::optional<QNetworkProxy> resolve(const QString &setting, const QUrl &target, QString *error,
                                     const QProcessEnvironment *environment = nullptr);

// "HTTP proxy 127.0.0.1:3128" / "no proxy": for logs, without credentials.
QString describe(const QNetworkProxy &proxy);

} // namespace ProxyResolver
