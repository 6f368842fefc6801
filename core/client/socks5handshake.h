// The server side of a SOCKS5 handshake (RFC 1928, with RFC 1929 user/password), without a
// socket: fed the bytes a SOCKS client sends, it says what to answer and, once a CONNECT request
// is complete, where the client wants to go.
//
// It takes exactly the bytes of the messages it parses and never more: whatever a client sends
// after its request (data it pipelines before our reply) is left to the caller, for the relay.
// It keeps at most one incomplete message (kMaxMessageBytes).
#pragma once

#include "net/hostport.h"

#include <QByteArray>
#include <QByteArrayView>
#include <QString>

class Socks5Handshake
{
public:
    enum class State {
        Greeting, // waiting for VER NMETHODS METHODS
        Authentication, // waiting for the RFC 1929 user/password message
        Request, // waiting for VER CMD RSV ATYP DST.ADDR DST.PORT
        Connect, // a CONNECT request is complete: destination() is set; answer with reply()
        Failed, // send what feed() gave, then close; failure() says why
    };

    // RFC 1928, 6: the REP field of a reply.
    enum class Reply : quint8 {
        Succeeded = 0x00,
        GeneralFailure = 0x01,
        NotAllowed = 0x02,
        NetworkUnreachable = 0x03,
        HostUnreachable = 0x04,
        ConnectionRefused = 0x05,
        TtlExpired = 0x06,
        CommandNotSupported = 0x07,
        AddressTypeNotSupported = 0x08,
    };

    // The longest message a client sends: RFC 1929's 1 + 1 + 255 + 1 + 255 bytes.
    static constexpr qsizetype kMaxMessageBytes = 513;

    // With an empty user the client must offer "no authentication" (0x00); with a user it must
    // offer user/password (0x02) and give both.
    explicit Socks5Handshake(const QByteArray &user = QByteArray(),
                             const QByteArray &password = QByteArray());

    // Takes bytes from the front of input, up to the end of the CONNECT request or of the
    // message that fails, and returns how many it took; appends what to send the client to
    // *answer. Takes nothing once the state is Connect or Failed.
    qsizetype feed(QByteArrayView input, QByteArray *answer);

    State state() const { return m_state; }
    // The requested destination once the state is Connect: a name as the client gave it (not
    // resolved), an IPv4 or an IPv6 address.
    HostPort destination() const { return m_destination; }
    // Why the state is Failed: one sentence without secrets.
    QString failure() const { return m_failure; }
    // Whether the client authenticated with user/password (RFC 1929).
    bool authenticated() const { return m_authenticated; }

    // A reply to a request: VER REP RSV, and BND.ADDR 0.0.0.0:0 (a client of a CONNECT through a
    // tunnel has no use for the server's local address).
    static QByteArray reply(Reply code);

private:
    qsizetype messageLength() const;
    qsizetype needed() const;
    void parseMessage(QByteArray *answer);
    void fail(const QString &why, QByteArray *answer, const QByteArray &reply = QByteArray());

    QByteArray m_user;
    QByteArray m_password;
    QByteArray m_message; // the current message so far
    State m_state = State::Greeting;
    HostPort m_destination;
    QString m_failure;
    bool m_authenticated = false;
};
