#include "tlspolicy.h"

#include "clientoptions.h"
#include "regularfile.h"

#include <QCryptographicHash>
#include <QSslKey>

namespace {

constexpr int kSha256Bytes = 32;
// Far above a system's whole CA bundle (about 200 KiB).
constexpr qint64 kMaxCaFileBytes = 16 * 1024 * 1024;

QString explain(const QSslError &error)
{
    switch (error.error()) {
    case QSslError::CertificateExpired:
        return QStringLiteral("the certificate has expired (%1)")
            .arg(error.certificate().expiryDate().toString(Qt::ISODate));
    case QSslError::CertificateNotYetValid:
        return QStringLiteral("the certificate is not valid yet (from %1)")
            .arg(error.certificate().effectiveDate().toString(Qt::ISODate));
    case QSslError::HostNameMismatch:
        return QStringLiteral("the certificate is for another host name (%1)")
            .arg(error.certificate().subjectDisplayName());
    case QSslError::SelfSignedCertificate:
    case QSslError::SelfSignedCertificateInChain:
    case QSslError::UnableToGetLocalIssuerCertificate:
    case QSslError::UnableToGetIssuerCertificate:
    case QSslError::UnableToVerifyFirstCertificate:
    case QSslError::CertificateUntrusted:
        return QStringLiteral("the certificate's issuer is unknown (%1; use --ca-file or "
                              "--pin-sha256 to trust it)")
            .arg(error.errorString());
    case QSslError::CertificateRevoked:
        return QStringLiteral("the certificate has been revoked");
    default:
        return error.errorString();
    }
}

} // namespace

std::optional<TlsPolicy> TlsPolicy::create(const ClientOptions &options, QString *error)
{
    TlsPolicy policy;
    policy.m_insecure = options.insecure;
    if (!options.caFile.isEmpty()) {
        QString why;
        const auto content = RegularFile::read(options.caFile, kMaxCaFileBytes + 1, &why);
        if (!content) {
            *error = QStringLiteral("cannot read the CA file %1: %2").arg(options.caFile, why);
            return std::nullopt;
        }
        if (content->size() > kMaxCaFileBytes) {
            *error = QStringLiteral("the CA file %1 is larger than 16 MiB; expected PEM "
                                    "certificates")
                         .arg(options.caFile);
            return std::nullopt;
        }
        policy.m_caCertificates = QSslCertificate::fromData(*content, QSsl::Pem);
        if (policy.m_caCertificates.isEmpty()) {
            *error = QStringLiteral("the CA file %1 holds no PEM certificate").arg(options.caFile);
            return std::nullopt;
        }
    }
    for (const QString &pin : options.pinsSha256) {
        const QString problem = pinProblem(pin);
        if (!problem.isEmpty()) {
            *error = problem;
            return std::nullopt;
        }
        policy.m_pins.append(QString::fromLatin1(
            QByteArray::fromBase64(pin.toLatin1(), QByteArray::AbortOnBase64DecodingErrors)
                .toBase64()));
    }
    return policy;
}

QString TlsPolicy::pinProblem(const QString &pin)
{
    const auto decoded =
        QByteArray::fromBase64Encoding(pin.toLatin1(), QByteArray::AbortOnBase64DecodingErrors);
    if (decoded && decoded.decoded.size() == kSha256Bytes)
        return QString();
    return QStringLiteral("\"%1\" is not a SHA-256 pin (base64 of 32 bytes: 44 characters ending "
                          "in \"=\", as printed in our TLS errors)")
        .arg(pin);
}

QSslConfiguration TlsPolicy::sslConfiguration(const QString &sessionKey) const
{
    QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
    if (!sessionKey.isEmpty()) {
        // Qt keeps no session across sockets by itself (each has its own OpenSSL context): it
        // hands the session out (sessionTicket()) only with persistence allowed.
        configuration.setSslOption(QSsl::SslOptionDisableSessionPersistence, false);
        const QByteArray session = m_sessions->session(sessionKey);
        if (!session.isEmpty())
            configuration.setSessionTicket(session);
    }
    if (pinned()) {
        // No CA at all: every handshake then reports errors, and the pin is checked in that
        // callback, before a single byte (headers, token) goes to the server.
        configuration.setCaCertificates({});
    } else if (!m_caCertificates.isEmpty())
        configuration.addCaCertificates(m_caCertificates);
    return configuration;
}

bool TlsPolicy::acceptsErrors(const QList<QSslError> &errors, const QSslCertificate &peer,
                              QString *reason) const
{
    if (m_insecure)
        return true;
    if (pinned())
        return acceptsPeer(peer, reason);
    *reason = describe(errors, peer);
    return false;
}

bool TlsPolicy::acceptsPeer(const QSslCertificate &peer, QString *reason) const
{
    if (m_insecure || !pinned())
        return true;
    const QString pin = pinOf(peer);
    if (m_pins.contains(pin))
        return true;
    *reason = QStringLiteral("the server's key matches no --pin-sha256 (its pin is %1)")
                  .arg(pin.isEmpty() ? QStringLiteral("unknown: no certificate") : pin);
    return false;
}

QString TlsPolicy::pinOf(const QSslCertificate &certificate)
{
    if (certificate.isNull())
        return QString();
    // For a public key Qt writes the DER SubjectPublicKeyInfo, the structure pins are made of.
    const QByteArray spki = certificate.publicKey().toDer();
    return QString::fromLatin1(
        QCryptographicHash::hash(spki, QCryptographicHash::Sha256).toBase64());
}

QString TlsPolicy::describe(const QList<QSslError> &errors, const QSslCertificate &peer)
{
    QStringList reasons;
    for (const QSslError &error : errors) {
        const QString text = explain(error);
        if (!reasons.contains(text))
            reasons.append(text);
    }
    QString result = QStringLiteral("TLS verification failed: %1")
                         .arg(reasons.isEmpty() ? QStringLiteral("unknown error")
                                                : reasons.join(QStringLiteral("; ")));
    if (!peer.isNull())
        result += QStringLiteral(" (certificate \"%1\", pin %2)")
                      .arg(peer.subjectDisplayName(), pinOf(peer));
    return result;
}
