#include "socks5handshake.h"

#include <QHostAddress>

namespace {

constexpr char kVersion = 0x05;
constexpr char kAuthVersion = 0x01; // RFC 1929's sub-negotiation version
constexpr char kNoAuthentication = 0x00;
constexpr char kUserPassword = 0x02;
constexpr char kNoAcceptableMethod = char(0xFF);
constexpr char kConnect = 0x01;
constexpr char kIpv4 = 0x01;
constexpr char kDomainName = 0x03;
constexpr char kIpv6 = 0x04;

quint8 byteAt(const QByteArray &bytes, qsizetype index)
{
    return quint8(bytes.at(index));
}

// Compares without stopping at the first difference, so that the time taken does not tell how
// much of a guess was right.
bool sameSecret(const QByteArray &a, const QByteArray &b)
{
    quint8 difference = a.size() == b.size() ? 0 : 1;
    for (qsizetype i = 0; i < a.size(); ++i)
        difference |= quint8(a.at(i)) ^ quint8(i < b.size() ? b.at(i) : ~a.at(i));
    return difference == 0;
}

} // namespace

Socks5Handshake::Socks5Handshake(const QByteArray &user, const QByteArray &password)
    : m_user(user), m_password(password)
{
}

QByteArray Socks5Handshake::reply(Reply code)
{
    return QByteArray("\x05", 1) + char(code) + QByteArray("\x00\x01\x00\x00\x00\x00\x00\x00", 8);
}

qsizetype Socks5Handshake::feed(QByteArrayView input, QByteArray *answer)
{
    qsizetype used = 0;
    while (used < input.size()
           && (m_state == State::Greeting || m_state == State::Authentication
               || m_state == State::Request)) {
        const qsizetype need = needed();
        const qsizetype take = qMin(need - m_message.size(), input.size() - used);
        m_message.append(input.sliced(used, take).toByteArray());
        used += take;
        if (m_message.size() == need)
            parseMessage(answer);
    }
    return used;
}

// The full length of the current message when its bytes so far tell it, else -1.
qsizetype Socks5Handshake::messageLength() const
{
    const qsizetype have = m_message.size();
    switch (m_state) {
    case State::Greeting: // VER NMETHODS METHODS...
        return have < 2 ? -1 : 2 + byteAt(m_message, 1);
    case State::Authentication: { // VER ULEN UNAME PLEN PASSWD
        if (have < 2)
            return -1;
        const qsizetype userEnd = 2 + byteAt(m_message, 1);
        return have < userEnd + 1 ? -1 : userEnd + 1 + byteAt(m_message, userEnd);
    }
    case State::Request: // VER CMD RSV ATYP ADDR PORT
        if (have < 4)
            return -1;
        switch (m_message.at(3)) {
        case kIpv4:
            return 4 + 4 + 2;
        case kIpv6:
            return 4 + 16 + 2;
        case kDomainName:
            return have < 5 ? -1 : 5 + byteAt(m_message, 4) + 2;
        default:
            return -1;
        }
    case State::Connect:
    case State::Failed:
        break;
    }
    return -1;
}

// How many bytes the current message must have before parseMessage() looks again: the version
// byte alone first (so that a client of another protocol is refused at once), then each length
// field, then the whole message.
qsizetype Socks5Handshake::needed() const
{
    const qsizetype have = m_message.size();
    if (have < 1)
        return 1;
    const qsizetype length = messageLength();
    if (length >= 0)
        return length;
    switch (m_state) {
    case State::Greeting:
        return 2;
    case State::Authentication: {
        if (have < 2)
            return 2;
        return 2 + byteAt(m_message, 1) + 1; // up to PLEN
    }
    case State::Request:
        return have < 4 ? 4 : 5; // up to ATYP, then a name's length
    case State::Connect:
    case State::Failed:
        break;
    }
    return have;
}

void Socks5Handshake::parseMessage(QByteArray *answer)
{
    const QByteArray &message = m_message;
    if (message.size() == 1) {
        const char version = m_state == State::Authentication ? kAuthVersion : kVersion;
        if (message.at(0) != version) {
            const QString what = m_state == State::Greeting ? QStringLiteral("not a SOCKS5 client")
                : m_state == State::Authentication
                ? QStringLiteral("not an RFC 1929 user/password message")
                : QStringLiteral("not a SOCKS5 request");
            fail(QStringLiteral("%1 (version byte %2)").arg(what).arg(byteAt(message, 0)), answer,
                 m_state == State::Authentication ? QByteArray("\x01\x01", 2) : QByteArray());
            return;
        }
    }
    if (m_state == State::Request && message.size() == 4) {
        if (message.at(1) != kConnect) {
            fail(QStringLiteral("command %1 is not supported (only CONNECT)")
                     .arg(byteAt(message, 1)),
                 answer, reply(Reply::CommandNotSupported));
            return;
        }
        const char type = message.at(3);
        if (type != kIpv4 && type != kIpv6 && type != kDomainName) {
            fail(QStringLiteral("address type %1 is not supported").arg(byteAt(message, 3)), answer,
                 reply(Reply::AddressTypeNotSupported));
            return;
        }
    }
    if (message.size() != messageLength())
        return; // a field arrived; more follows

    switch (m_state) {
    case State::Greeting: {
        const char wanted = m_user.isEmpty() ? kNoAuthentication : kUserPassword;
        if (!message.mid(2).contains(wanted)) {
            fail(m_user.isEmpty() ? QStringLiteral("the client offers no method without "
                                                   "authentication")
                                  : QStringLiteral("the client does not offer user/password "
                                                   "authentication, which is required"),
                 answer, QByteArray(1, kVersion) + kNoAcceptableMethod);
            return;
        }
        answer->append(kVersion);
        answer->append(wanted);
        m_message.clear();
        m_state = m_user.isEmpty() ? State::Request : State::Authentication;
        return;
    }
    case State::Authentication: {
        const qsizetype userLength = byteAt(message, 1);
        const QByteArray user = message.mid(2, userLength);
        const QByteArray password = message.mid(2 + userLength + 1);
        // Both compared in full whatever the first one gives.
        const bool userMatches = sameSecret(user, m_user);
        const bool passwordMatches = sameSecret(password, m_password);
        if (!userMatches || !passwordMatches) {
            fail(QStringLiteral("wrong SOCKS5 user name or password (user \"%1\")")
                     .arg(QString::fromUtf8(user)),
                 answer, QByteArray("\x01\x01", 2));
            return;
        }
        answer->append(kAuthVersion);
        answer->append(char(0x00));
        m_authenticated = true;
        m_message.clear();
        m_state = State::Request;
        return;
    }
    case State::Request: {
        const qsizetype portAt = message.size() - 2;
        const quint16 port = quint16(byteAt(message, portAt) << 8 | byteAt(message, portAt + 1));
        QString host;
        switch (message.at(3)) {
        case kIpv4:
            host =
                QHostAddress(quint32(byteAt(message, 4)) << 24 | quint32(byteAt(message, 5)) << 16
                             | quint32(byteAt(message, 6)) << 8 | quint32(byteAt(message, 7)))
                    .toString();
            break;
        case kIpv6: {
            Q_IPV6ADDR address;
            for (int i = 0; i < 16; ++i)
                address[i] = byteAt(message, 4 + i);
            host = QHostAddress(address).toString();
            break;
        }
        default:
            host = QString::fromLatin1(message.mid(5, byteAt(message, 4)));
            break;
        }
        if (host.isEmpty() || port == 0) {
            fail(QStringLiteral("the request names no host or port 0"), answer,
                 reply(Reply::GeneralFailure));
            return;
        }
        m_destination = HostPort {host, port};
        m_message.clear();
        m_state = State::Connect;
        return;
    }
    case State::Connect:
    case State::Failed:
        break;
    }
}

void Socks5Handshake::fail(const QString &why, QByteArray *answer, const QByteArray &reply)
{
    answer->append(reply);
    m_failure = why;
    m_message.clear();
    m_state = State::Failed;
}
