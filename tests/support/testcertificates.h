// A throw-away PKI for TLS tests, made with the real openssl program at test run time: a CA and a
// server certificate for "localhost" signed by it, in a directory the caller owns.
#pragma once

#include <QString>
#include <QStringList>

class TestCertificates
{
public:
    // Writes ca.pem, server.pem, server.key and expired.pem (the same key and name, signed by the
    // same CA, valid only on 2020-01-01) into directory. On failure returns false with
    // the openssl command and its output in *error (also when openssl is missing).
    bool create(const QString &directory, QString *error);

    QString caFile() const { return m_caFile; }
    QString certificateFile() const { return m_certificateFile; }
    QString keyFile() const { return m_keyFile; }
    QString expiredCertificateFile() const { return m_expiredFile; }
    QString serverName() const { return QStringLiteral("localhost"); }

    // The server key's SPKI SHA-256 pin in base64, computed by openssl (not by our code).
    QString serverPin() const { return m_serverPin; }

    // Runs openssl with these arguments in directory. On failure returns false with the command
    // and its output in *error (also when openssl is missing).
    static bool runOpenssl(const QStringList &arguments, const QString &directory, QString *error);

private:
    QString m_caFile;
    QString m_certificateFile;
    QString m_keyFile;
    QString m_expiredFile;
    QString m_serverPin;
};
