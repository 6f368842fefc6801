#include "tlsidentity.h"

#include "regularfile.h"

#include <QSslKey>
#include <QSslSocket>
#include <QTcpServer>
#include <QTcpSocket>

namespace {

constexpr qint64 kMaxPemFileBytes = 1024 * 1024;
constexpr int kCheckTimeoutMs = 5000;

std::optional<QByteArray> readPemFile(const QString &path, const QString &what, QString *error)
{
    // Read again on every reload (SIGHUP): a FIFO here must not freeze the server.
    QString why;
    const auto content = RegularFile::read(path, kMaxPemFileBytes + 1, &why);
    if (!content) {
        *error = QStringLiteral("cannot read the TLS %1 %2: %3").arg(what, path, why);
        return std::nullopt;
    }
    if (content->size() > kMaxPemFileBytes) {
        *error =
            QStringLiteral("the TLS %1 %2 is larger than 1 MiB; expected PEM text").arg(what, path);
        return std::nullopt;
    }
    return content;
}

// Keeps the descriptor of one accepted connection instead of making a socket of it.
class DescriptorServer : public QTcpServer
{
public:
    qintptr descriptor = -1;

protected:
    void incomingConnection(qintptr socketDescriptor) override { descriptor = socketDescriptor; }
};

// Qt 6.4 checks that the key belongs to the certificate only when a TLS server socket starts
// its handshake (building the OpenSSL context); an unconnected socket cannot start one. So
// start one on a loopback connection to ourselves, and give up at once: no byte is exchanged.
// Returns the error of the first handshake step, empty when it went well or could not be tried.
QString serverHandshakeError(const QSslConfiguration &configuration)
{
    DescriptorServer listener;
    if (!listener.listen(QHostAddress::LocalHost) && !listener.listen(QHostAddress::LocalHostIPv6))
        return QString(); // no loopback: the first real client will report it instead
    QTcpSocket client;
    client.connectToHost(listener.serverAddress(), listener.serverPort());
    if (!listener.waitForNewConnection(kCheckTimeoutMs) || listener.descriptor < 0)
        return QString();
    QSslSocket server;
    if (!server.setSocketDescriptor(listener.descriptor))
        return QString();
    server.setSslConfiguration(configuration);
    QString firstError;
    QObject::connect(&server, &QSslSocket::errorOccurred, &server, [&] {
        if (firstError.isEmpty())
            firstError = server.errorString();
    });
    server.startServerEncryption(); // reports a configuration error synchronously
    server.abort();
    client.abort();
    return firstError;
}

} // namespace

std::optional<TlsIdentity> TlsIdentity::load(const QString &certificateFile, const QString &keyFile,
                                             QString *error)
{
    if (!QSslSocket::supportsSsl()) {
        *error = QStringLiteral("TLS is not available: Qt found no TLS library (OpenSSL 3 on "
                                "Debian: the package libssl3)");
        return std::nullopt;
    }
    const auto certificateData = readPemFile(certificateFile, QStringLiteral("certificate"), error);
    if (!certificateData)
        return std::nullopt;
    const QList<QSslCertificate> chain = QSslCertificate::fromData(*certificateData, QSsl::Pem);
    if (chain.isEmpty() || chain.first().isNull()) {
        *error = QStringLiteral("the TLS certificate %1 holds no PEM certificate (expected "
                                "-----BEGIN CERTIFICATE-----)")
                     .arg(certificateFile);
        return std::nullopt;
    }

    const auto keyData = readPemFile(keyFile, QStringLiteral("key"), error);
    if (!keyData)
        return std::nullopt;
    if (keyData->contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || keyData->contains("Proc-Type: 4,ENCRYPTED")) {
        *error = QStringLiteral("the TLS key %1 is encrypted; the server needs it unencrypted "
                                "(openssl pkey -in KEY -out PLAIN-KEY), readable only by its user")
                     .arg(keyFile);
        return std::nullopt;
    }
    QSslKey key(*keyData, QSsl::Rsa, QSsl::Pem);
    if (key.isNull())
        key = QSslKey(*keyData, QSsl::Ec, QSsl::Pem);
    if (key.isNull()) {
        *error = QStringLiteral("the TLS key %1 holds no PEM RSA or EC private key (expected "
                                "-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)")
                     .arg(keyFile);
        return std::nullopt;
    }

    TlsIdentity identity;
    QSslConfiguration &configuration = identity.m_configuration;
    configuration = QSslConfiguration::defaultConfiguration();
    configuration.setLocalCertificateChain(chain);
    configuration.setPrivateKey(key);
    configuration.setProtocol(QSsl::TlsV1_2OrLater);
    configuration.setPeerVerifyMode(QSslSocket::VerifyNone); // no client certificates

    const QString handshakeError = serverHandshakeError(configuration);
    // Qt 6.4 with OpenSSL 3 words it "Private key does not certify public key" when the key's
    // type differs from the certificate's, "... key values mismatch" when it is another key.
    if (handshakeError.contains(QLatin1String("does not certify"))
        || handshakeError.contains(QLatin1String("mismatch"))) {
        *error = QStringLiteral("the TLS key %1 does not match the certificate %2 (the first "
                                "certificate in the file must be the server's own)")
                     .arg(keyFile, certificateFile);
        return std::nullopt;
    }
    if (!handshakeError.isEmpty()) {
        *error = QStringLiteral("the TLS certificate %1 and key %2 cannot be used: %3")
                     .arg(certificateFile, keyFile, handshakeError);
        return std::nullopt;
    }
    return identity;
}

QString TlsIdentity::description() const
{
    const QSslCertificate leaf = certificate();
    QStringList names = leaf.subjectInfo(QSslCertificate::CommonName);
    const auto alternatives = leaf.subjectAlternativeNames();
    for (auto it = alternatives.cbegin(); it != alternatives.cend(); ++it) {
        if (!names.contains(it.value()))
            names.append(it.value());
    }
    return QStringLiteral("%1, serial %2, valid until %3")
        .arg(names.join(QLatin1String(", ")), QString::fromLatin1(leaf.serialNumber()),
             leaf.expiryDate().toUTC().toString(QStringLiteral("yyyy-MM-dd hh:mm:ss 'UTC'")));
}
