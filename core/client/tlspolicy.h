// How a client verifies the server's TLS certificate: the system store plus an optional CA file,
// SPKI SHA-256 pins (a pinned certificate needs no CA), or nothing at all with --insecure.
#pragma once

#include "tlssessioncache.h"

#include <QList>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslError>
#include <QString>
#include <QStringList>
#include <memory>
#include <optional>

struct ClientOptions;

class TlsPolicy
{
public:
    // Reads the CA file and checks the pins. Returns std::nullopt with a readable reason when the
    // file cannot be read or a pin is not base64 of 32 bytes.
    static std::optional<TlsPolicy> create(const ClientOptions &options, QString *error);

    TlsPolicy() = default;

    // Configuration for the TLS socket: the system CAs plus those of the CA file; none with pins.
    // With a sessionKey (TlsSessionCache::keyOf), the last session that server gave is offered
    // for resumption: verification is not weakened, as a session is only ever stored after a
    // handshake that this policy accepted, and pins are checked on resumed handshakes too (the
    // session keeps the server's certificate).
    QSslConfiguration sslConfiguration(const QString &sessionKey = QString()) const;

    // Shared by every copy of this policy (the connections of one client tunnel).
    const std::shared_ptr<TlsSessionCache> &sessions() const { return m_sessions; }

    bool insecure() const { return m_insecure; }
    bool pinned() const { return !m_pins.isEmpty(); }

    // Verification errors reported during the handshake: true when they may be ignored
    // (--insecure, or a pinned key). Otherwise false with the reason in *reason.
    bool acceptsErrors(const QList<QSslError> &errors, const QSslCertificate &peer,
                       QString *reason) const;

    // Called once the handshake succeeded: with pins, the key must be one of them.
    bool acceptsPeer(const QSslCertificate &peer, QString *reason) const;

    // Why a pin as a person wrote it is not base64 of a SHA-256 digest; empty when it is. The one
    // check of pins (command line, profiles, editor, and create()).
    static QString pinProblem(const QString &pin);

    // base64 SHA-256 of the certificate's SubjectPublicKeyInfo, the value --pin-sha256 takes.
    static QString pinOf(const QSslCertificate &certificate);

    // "expired", "issued for another host name", ... for each error, with the certificate's pin.
    static QString describe(const QList<QSslError> &errors, const QSslCertificate &peer);

private:
    QList<QSslCertificate> m_caCertificates;
    QStringList m_pins;
    bool m_insecure = false;
    std::shared_ptr<TlsSessionCache> m_sessions = std::make_shared<TlsSessionCache>();
};
