// Parsing of the server URL a client connects to: ws:// and wss://, with http(s):// mapped to them.
#pragma once

#include <QString>
#include <QUrl>
#include <optional>

namespace WebSocketUrl {

// Parses a user-given URL. http:// becomes ws://, https:// becomes wss://, an empty path becomes
// "/". Returns std::nullopt with a readable reason in *error for anything else.
std::optional<QUrl> parse(const QString &text, QString *error);

// Maps a redirect target (possibly http(s)://, possibly relative) onto a WebSocket URL.
std::optional<QUrl> resolveRedirect(const QUrl &base, const QString &location, QString *error);

// The URL as it may appear in logs and windows: user name and password removed, and the value
// of every query item that carries a credential (?token=, see isSecretQueryKey) replaced by
// "<hidden>".
QString redacted(const QUrl &url);

// Text that may hold a URL as a person typed it (an error message), with the same secrets
// removed.
QString redactedText(const QString &text);

// Whether a query item of this name carries a credential: token (as our server takes it) and
// the usual others (access_token, password, secret, key, api_key, ...).
bool isSecretQueryKey(const QString &key);

} // namespace WebSocketUrl
