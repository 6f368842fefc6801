// The head of one HTTP/1.x request (request line and header fields) read from the bytes a
// connection has sent so far, so the server can decide per request whether it is a WebSocket
// upgrade, and refuse a broken one with an HTTP answer, before anything is read off the socket.
#pragma once

#include <QByteArray>
#include <QList>
#include <QPair>
#include <QString>
#include <QUrlQuery>

class HttpRequestHead
{
public:
    enum class Parse {
        Complete, // head() is filled in; headBytes() tells where the head ends
        Incomplete, // the blank line that ends the head has not arrived yet
        Malformed, // not an HTTP/1.x request head: answer 400 and close
        TooLarge, // no end of head within kMaxHeadBytes: answer 431 and close
    };

    // Longest head read (request line and header fields, as nginx's large_client_header_buffers
    // 4 x 8 KiB, with room to spare); the server's read buffer for connections not yet tunnels
    // is a little larger.
    static constexpr qsizetype kMaxHeadBytes = 64 * 1024;

    // Reads a head from the start of bytes. On Complete, *head and *headBytes are set.
    static Parse parse(const QByteArray &bytes, HttpRequestHead *head, qsizetype *headBytes);

    const QByteArray &method() const { return m_method; }
    const QByteArray &target() const { return m_target; } // as sent: /path?query
    QString path() const; // percent-decoded
    QUrlQuery query() const;
    int minorVersion() const { return m_minorVersion; } // HTTP/1.x

    // Field values by (case-insensitive) name; repeated fields give several entries.
    QList<QByteArray> values(const QByteArray &name) const;
    // The single value of a field, or an empty array when it is absent.
    QByteArray value(const QByteArray &name) const;
    bool hasField(const QByteArray &name) const { return !values(name).isEmpty(); }
    // Whether a comma-separated field names a token (case-insensitive), e.g. Connection: upgrade.
    bool hasToken(const QByteArray &name, const QByteArray &token) const;

    // The client asks the server to close the connection after the answer ("Connection:
    // close", or HTTP/1.0 without "keep-alive").
    bool wantsClose() const
    {
        return hasToken("connection", "close")
            || (m_minorVersion == 0 && !hasToken("connection", "keep-alive"));
    }

    // The client asks for a WebSocket: an Upgrade field naming "websocket". Such a request is
    // either a valid upgrade or refused with upgradeProblem()'s answer, never served as plain.
    bool asksForWebSocket() const { return hasToken("upgrade", "websocket"); }

    // Why an upgrade request cannot be accepted (RFC 6455 4.2.1, and fields that make the
    // request's length ambiguous), as the HTTP status to answer with and a reason a person can
    // read; status 0 when it is a valid upgrade request. 426 means a WebSocket version other
    // than 13 (answered with "Sec-WebSocket-Version: 13"); a version field that is not one
    // number is a 400.
    struct Problem
    {
        int status = 0;
        QByteArray reason;
    };
    Problem upgradeProblem() const;
    // The same for any request: ambiguous framing (several Content-Length, Transfer-Encoding
    // with Content-Length) is refused whatever the request is for.
    Problem framingProblem() const;

private:
    QByteArray m_method;
    QByteArray m_target;
    int m_minorVersion = 1;
    QList<QPair<QByteArray, QByteArray>> m_fields; // lower-case name, trimmed value
};
