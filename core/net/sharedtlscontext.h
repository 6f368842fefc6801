// One OpenSSL context for the TLS sockets of one configuration. Qt (6.4 to 6.8) builds a context
// (SSL_CTX: protocols, ciphers, certificate and key, CA store, session ticket key) for every
// QSslSocket: about 185 µs of CPU and 13 KB per connection, and a server whose every connection
// has its own ticket key resumes no session. Qt shares one itself (QNetworkAccessManager, per
// host) through its private API; this class is the one place that uses it.
#pragma once

#include <memory>

class QSslContext; // Qt's, defined in its TLS plugin: only ever held here, never looked into
class QSslSocket;

class SharedTlsContext
{
public:
    // Before the socket's handshake starts: hands it the kept context, so that it builds none.
    // Returns false when no context is kept, or when Qt did not take it (then the socket builds
    // its own, as Qt does by default, and nothing is shared from then on: logged as a warning).
    bool give(QSslSocket *socket);

    // Keeps the context the socket uses (built by Qt for its configuration) for the sockets that
    // follow, unless one is kept already. With OpenSSL the context exists once the handshake has
    // started (startServerEncryption(), or the client socket's connected()).
    void keepFrom(QSslSocket *socket);

    // Forgets the kept context (the configuration changed); the sockets that use it keep it.
    void drop() { m_context.reset(); }

    bool holds() const { return bool(m_context); }

    // Whether the socket uses the kept context (for tests: two sockets, one context).
    bool isUsedBy(QSslSocket *socket) const;

    // False once Qt was seen not to take a shared context.
    static bool working();

private:
    std::shared_ptr<QSslContext> m_context;
};
