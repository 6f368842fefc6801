#include "testcertificates.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QProcess>
#include <QStandardPaths>

bool TestCertificates::runOpenssl(const QStringList &arguments, const QString &directory,
                                  QString *error)
{
    const QString openssl = QStandardPaths::findExecutable(QStringLiteral("openssl"));
    if (openssl.isEmpty()) {
        *error = QStringLiteral("openssl not found: install the Debian package openssl "
                                "(scripts/install-deps.sh build test)");
        return false;
    }
    QProcess process;
    process.setWorkingDirectory(directory);
    process.setProcessChannelMode(QProcess::MergedChannels);
    process.start(openssl, arguments);
    if (!process.waitForFinished(60000) || process.exitStatus() != QProcess::NormalExit
        || process.exitCode() != 0) {
        *error =
            QStringLiteral("openssl %1 failed: %2")
                .arg(arguments.join(QLatin1Char(' ')), QString::fromLocal8Bit(process.readAll()));
        return false;
    }
    return true;
}

bool TestCertificates::create(const QString &directory, QString *error)
{
    const QDir dir(directory);
    const QStringList ec = {
        QStringLiteral("-newkey"), QStringLiteral("ec"), QStringLiteral("-pkeyopt"),
        QStringLiteral("ec_paramgen_curve:prime256v1"), QStringLiteral("-nodes")};
    QFile extensions(dir.filePath(QStringLiteral("server.ext")));
    if (!extensions.open(QIODevice::WriteOnly)) {
        *error = extensions.errorString();
        return false;
    }
    extensions.write("basicConstraints=CA:FALSE\n"
                     "keyUsage=digitalSignature,keyEncipherment\n"
                     "extendedKeyUsage=serverAuth\n"
                     "subjectAltName=DNS:localhost\n");
    extensions.close();
    if (!runOpenssl(QStringList {QStringLiteral("req"), QStringLiteral("-x509")} + ec
                        + QStringList {QStringLiteral("-keyout"), QStringLiteral("ca.key"),
                                       QStringLiteral("-out"), QStringLiteral("ca.pem"),
                                       QStringLiteral("-days"), QStringLiteral("2"),
                                       QStringLiteral("-subj"), QStringLiteral("/CN=tow test CA"),
                                       // What a CA certificate must say for strict verifiers
                                       // (Python 3.13's default, RFC 5280 4.2.1.3).
                                       QStringLiteral("-addext"),
                                       QStringLiteral("keyUsage=critical,keyCertSign,cRLSign")},
                    directory, error)
        || !runOpenssl(QStringList {QStringLiteral("req")} + ec
                           + QStringList {QStringLiteral("-keyout"), QStringLiteral("server.key"),
                                          QStringLiteral("-out"), QStringLiteral("server.csr"),
                                          QStringLiteral("-subj"), QStringLiteral("/CN=localhost")},
                       directory, error)
        || !runOpenssl(
            {QStringLiteral("x509"), QStringLiteral("-req"), QStringLiteral("-in"),
             QStringLiteral("server.csr"), QStringLiteral("-CA"), QStringLiteral("ca.pem"),
             QStringLiteral("-CAkey"), QStringLiteral("ca.key"), QStringLiteral("-CAcreateserial"),
             QStringLiteral("-days"), QStringLiteral("2"), QStringLiteral("-extfile"),
             QStringLiteral("server.ext"), QStringLiteral("-out"), QStringLiteral("server.pem")},
            directory, error)
        || !runOpenssl({QStringLiteral("x509"), QStringLiteral("-in"), QStringLiteral("server.pem"),
                        QStringLiteral("-pubkey"), QStringLiteral("-noout"), QStringLiteral("-out"),
                        QStringLiteral("server.pub")},
                       directory, error)
        || !runOpenssl({QStringLiteral("pkey"), QStringLiteral("-pubin"), QStringLiteral("-in"),
                        QStringLiteral("server.pub"), QStringLiteral("-outform"),
                        QStringLiteral("der"), QStringLiteral("-out"),
                        QStringLiteral("server.spki")},
                       directory, error))
        return false;
    // openssl x509 cannot back-date; openssl ca can, with a minimal CA database.
    QFile caConfig(dir.filePath(QStringLiteral("ca.cnf")));
    QFile index(dir.filePath(QStringLiteral("index.txt")));
    QFile serial(dir.filePath(QStringLiteral("serial")));
    if (!caConfig.open(QIODevice::WriteOnly) || !index.open(QIODevice::WriteOnly)
        || !serial.open(QIODevice::WriteOnly)) {
        *error = QStringLiteral("cannot write the CA database in %1").arg(directory);
        return false;
    }
    caConfig.write("[ca]\ndefault_ca = test\n"
                   "[test]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n"
                   "default_md = sha256\npolicy = any\n"
                   "[any]\ncommonName = supplied\n"
                   "[server]\nsubjectAltName = DNS:localhost\n");
    serial.write("1000\n");
    caConfig.close();
    index.close();
    serial.close();
    if (!runOpenssl({QStringLiteral("ca"), QStringLiteral("-batch"), QStringLiteral("-config"),
                     QStringLiteral("ca.cnf"), QStringLiteral("-cert"), QStringLiteral("ca.pem"),
                     QStringLiteral("-keyfile"), QStringLiteral("ca.key"), QStringLiteral("-in"),
                     QStringLiteral("server.csr"), QStringLiteral("-out"),
                     QStringLiteral("expired.pem"), QStringLiteral("-startdate"),
                     QStringLiteral("20200101000000Z"), QStringLiteral("-enddate"),
                     QStringLiteral("20200102000000Z"), QStringLiteral("-extensions"),
                     QStringLiteral("server"), QStringLiteral("-notext")},
                    directory, error))
        return false;
    m_expiredFile = dir.filePath(QStringLiteral("expired.pem"));

    QFile spki(dir.filePath(QStringLiteral("server.spki")));
    if (!spki.open(QIODevice::ReadOnly)) {
        *error = spki.errorString();
        return false;
    }
    m_serverPin = QString::fromLatin1(
        QCryptographicHash::hash(spki.readAll(), QCryptographicHash::Sha256).toBase64());
    m_caFile = dir.filePath(QStringLiteral("ca.pem"));
    m_certificateFile = dir.filePath(QStringLiteral("server.pem"));
    m_keyFile = dir.filePath(QStringLiteral("server.key"));
    return true;
}
