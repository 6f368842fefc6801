#include "httprequesthead.h"

#include <QUrl>

namespace {

// RFC 9110 5.6.2: the characters of a token (method and field names).
bool isTokenChar(char c)
{
    static const QByteArray extra = QByteArrayLiteral("!#$%&'*+-.^_`|~");
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        || extra.contains(c);
}

bool isToken(const QByteArray &text)
{
    if (text.isEmpty())
        return false;
    for (const char c : text) {
        if (!isTokenChar(c))
            return false;
    }
    return true;
}

// Field values may hold visible characters, spaces, tabs and obs-text; no control characters.
bool isFieldValue(const QByteArray &value)
{
    for (const char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u == 0x7f)
            return false;
    }
    return true;
}

} // namespace

HttpRequestHead::Parse HttpRequestHead::parse(const QByteArray &bytes, HttpRequestHead *head,
                                              qsizetype *headBytes)
{
    // Empty lines before the request line are allowed (RFC 9112 2.2); a client that sends
    // anything else first is not speaking HTTP.
    qsizetype start = 0;
    while (start + 1 < bytes.size() && bytes.at(start) == '\r' && bytes.at(start + 1) == '\n')
        start += 2;
    const qsizetype end = bytes.indexOf("\r\n\r\n", start);
    if (end < 0) {
        // Not even the request line makes sense: say so now rather than wait for more.
        const qsizetype firstLineEnd = bytes.indexOf('\n', start);
        const QByteArray firstLine = bytes.mid(start, firstLineEnd < 0 ? 16 : firstLineEnd - start);
        const qsizetype space = firstLine.indexOf(' ');
        if ((space < 0 && firstLine.size() >= 16 && !isToken(firstLine))
            || (space >= 0 && !isToken(firstLine.left(space))))
            return Parse::Malformed;
        return bytes.size() > kMaxHeadBytes ? Parse::TooLarge : Parse::Incomplete;
    }
    if (end + 4 > kMaxHeadBytes)
        return Parse::TooLarge;

    const QList<QByteArray> lines = bytes.mid(start, end - start).split('\n');
    HttpRequestHead parsed;
    for (qsizetype i = 0; i < lines.size(); ++i) {
        QByteArray line = lines.at(i);
        if (!line.endsWith('\r') && i + 1 < lines.size())
            return Parse::Malformed; // a bare LF inside the head
        if (line.endsWith('\r'))
            line.chop(1);
        if (i == 0) {
            const QList<QByteArray> parts = line.split(' ');
            if (parts.size() != 3 || !isToken(parts.at(0)) || parts.at(1).isEmpty())
                return Parse::Malformed;
            const QByteArray &version = parts.at(2);
            if (version.size() != 8 || !version.startsWith("HTTP/1.") || version.at(7) < '0'
                || version.at(7) > '9')
                return Parse::Malformed;
            parsed.m_method = parts.at(0);
            parsed.m_target = parts.at(1);
            parsed.m_minorVersion = version.at(7) - '0';
            continue;
        }
        // No obsolete line folding (RFC 9112 5.2: a server may reject it) and no space before
        // the colon (RFC 9112 5.1: must be rejected).
        const qsizetype colon = line.indexOf(':');
        if (colon <= 0 || !isToken(line.left(colon)))
            return Parse::Malformed;
        const QByteArray value = line.mid(colon + 1).trimmed();
        if (!isFieldValue(value))
            return Parse::Malformed;
        parsed.m_fields.append({line.left(colon).toLower(), value});
    }
    *head = std::move(parsed);
    *headBytes = end + 4;
    return Parse::Complete;
}

QString HttpRequestHead::path() const
{
    const qsizetype question = m_target.indexOf('?');
    const QByteArray raw = question < 0 ? m_target : m_target.left(question);
    return QUrl::fromPercentEncoding(raw);
}

QUrlQuery HttpRequestHead::query() const
{
    const qsizetype question = m_target.indexOf('?');
    if (question < 0)
        return QUrlQuery();
    return QUrlQuery(QString::fromLatin1(m_target.mid(question + 1)));
}

QList<QByteArray> HttpRequestHead::values(const QByteArray &name) const
{
    QList<QByteArray> found;
    for (const auto &[fieldName, value] : m_fields) {
        if (fieldName == name)
            found.append(value);
    }
    return found;
}

QByteArray HttpRequestHead::value(const QByteArray &name) const
{
    const QList<QByteArray> found = values(name);
    return found.isEmpty() ? QByteArray() : found.constFirst();
}

bool HttpRequestHead::hasToken(const QByteArray &name, const QByteArray &token) const
{
    for (const QByteArray &value : values(name)) {
        for (const QByteArray &item : value.split(',')) {
            if (item.trimmed().compare(token, Qt::CaseInsensitive) == 0)
                return true;
        }
    }
    return false;
}

HttpRequestHead::Problem HttpRequestHead::framingProblem() const
{
    const QList<QByteArray> lengths = values("content-length");
    if (lengths.size() > 1)
        return {400, QByteArrayLiteral("more than one Content-Length")};
    if (!lengths.isEmpty() && hasField("transfer-encoding"))
        return {400, QByteArrayLiteral("both Content-Length and Transfer-Encoding")};
    return {};
}

HttpRequestHead::Problem HttpRequestHead::upgradeProblem() const
{
    if (const Problem framing = framingProblem(); framing.status != 0)
        return framing;
    if (m_method != "GET")
        return {400, QByteArrayLiteral("a WebSocket upgrade must be a GET request")};
    if (m_minorVersion < 1)
        return {400, QByteArrayLiteral("a WebSocket upgrade needs HTTP/1.1")};
    // What QWebSocketServer's handshake (Qt 6.4, 6.8) needs, or it closes the connection
    // without an answer: one Host naming a host, Upgrade exactly "websocket", the first
    // Connection field naming "upgrade".
    const QList<QByteArray> hosts = values("host");
    QUrl authority;
    if (hosts.size() == 1)
        authority.setAuthority(QString::fromLatin1(hosts.constFirst()), QUrl::StrictMode);
    if (hosts.size() != 1 || authority.host().isEmpty() || !authority.userName().isNull())
        return {400, QByteArrayLiteral("Host is missing, repeated or not a host name")};
    const QList<QByteArray> upgrades = values("upgrade");
    if (upgrades.size() != 1
        || upgrades.constFirst().compare("websocket", Qt::CaseInsensitive) != 0)
        return {400, QByteArrayLiteral("Upgrade must be exactly \"websocket\"")};
    const QList<QByteArray> connections = values("connection");
    bool namesUpgrade = false;
    if (!connections.isEmpty()) {
        for (const QByteArray &item : connections.constFirst().split(','))
            namesUpgrade =
                namesUpgrade || item.trimmed().compare("upgrade", Qt::CaseInsensitive) == 0;
    }
    if (!namesUpgrade)
        return {400, QByteArrayLiteral("Connection does not name \"upgrade\"")};
    // A body would follow the head, where the first WebSocket frame belongs.
    if (hasField("transfer-encoding")
        || (hasField("content-length") && value("content-length") != "0"))
        return {400, QByteArrayLiteral("a WebSocket upgrade request has no body")};
    const QList<QByteArray> keys = values("sec-websocket-key");
    if (keys.size() != 1
        || QByteArray::fromBase64(keys.constFirst(), QByteArray::AbortOnBase64DecodingErrors).size()
            != 16)
        return {400, QByteArrayLiteral("Sec-WebSocket-Key is missing or not 16 bytes in base64")};
    const QList<QByteArray> versions = values("sec-websocket-version");
    bool isNumber = false;
    if (versions.size() == 1)
        versions.constFirst().toUInt(&isNumber);
    if (!isNumber)
        return {400, QByteArrayLiteral("Sec-WebSocket-Version is missing or not one number")};
    if (versions.constFirst() != "13")
        return {426, QByteArrayLiteral("only WebSocket version 13 is supported")};
    return {};
}
