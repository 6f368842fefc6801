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

// The URL as it may appear in logs: user name and password removed.
QString redacted(const QUrl &url);

} // namespace WebSocketUrl
