#include "sharedtlscontext.h"

#include "logcategories.h"

#ifdef TOW_SHARED_TLS_CONTEXT

#include <QSslSocket>
#include <QtNetwork/private/qsslsocket_p.h>
#include <atomic>

// QSslSocketPrivate::checkSettingSslContext() and sslContext() are Qt's private API (exported as
// Qt_6_PRIVATE_API; std::shared_ptr<QSslContext> in Qt 6.4 to 6.8), what QHttpNetworkConnection
// uses to share one context between the connections to one host. The OpenSSL backend takes a
// context given before the handshake starts (its initSslContext() builds one only when none was
// given) and lets it go when the socket disconnects; the other backends ignore it and have none.
// A newer Qt must be checked again (tst_sharedtlscontext) before it is allowed here.
// CMake turns TOW_SHARED_TLS_CONTEXT off for any other Qt.

namespace {

std::atomic<bool> s_working {true};

} // namespace

bool SharedTlsContext::working()
{
    return s_working.load(std::memory_order_relaxed);
}

bool SharedTlsContext::give(QSslSocket *socket)
{
    if (!m_context || !socket || !working())
        return false;
    QSslSocketPrivate::checkSettingSslContext(socket, m_context);
    if (QSslSocketPrivate::sslContext(socket) == m_context)
        return true;
    // Qt did not take it: its private API no longer does what this class relies on. Every
    // socket then builds its own context, as Qt does by default (slower, not less safe).
    if (s_working.exchange(false))
        qCWarning(lcTls).noquote()
            << "Qt" << qVersion() << "with the TLS backend" << QSslSocket::activeBackend()
            << "did not take a shared TLS context; every connection builds its own from now on";
    m_context.reset();
    return false;
}

void SharedTlsContext::keepFrom(QSslSocket *socket)
{
    if (m_context || !socket || !working())
        return;
    m_context = QSslSocketPrivate::sslContext(socket);
    if (m_context)
        return;
    // None with the other backends (Schannel, Secure Transport), or once the socket's handshake
    // failed (it is closed then): the next socket tries again. An OpenSSL socket whose handshake
    // is under way has one, unless Qt's private API changed.
    if (QSslSocket::activeBackend() == QLatin1String("openssl")
        && socket->state() == QAbstractSocket::ConnectedState
        && socket->mode() != QSslSocket::UnencryptedMode && s_working.exchange(false))
        qCWarning(lcTls).noquote() << "Qt" << qVersion()
                                   << "shows no TLS context of a socket in its handshake; every "
                                      "connection builds its own from now on";
}

bool SharedTlsContext::isUsedBy(QSslSocket *socket) const
{
    return m_context && socket && QSslSocketPrivate::sslContext(socket) == m_context;
}

#else // built without Qt's private headers, or for a Qt not checked yet: nothing is shared

bool SharedTlsContext::working()
{
    return false;
}

bool SharedTlsContext::give(QSslSocket *)
{
    return false;
}

void SharedTlsContext::keepFrom(QSslSocket *) { }

bool SharedTlsContext::isUsedBy(QSslSocket *) const
{
    return false;
}

#endif
