// The server's TLS identity: a certificate chain and its private key read from PEM files and
// checked together, as the configuration new TLS connections use (TLS 1.2 or later).
#pragma once

#include <QSslCertificate>
#include <QSslConfiguration>
#include <QString>
#include <optional>

class TlsIdentity
{
public:
    // Reads certificateFile (the server's certificate first, then its intermediates) and keyFile
    // (an unencrypted RSA or EC key). On failure returns std::nullopt and a reason that names
    // the file ("cannot read the TLS key /etc/...: Permission denied", "... does not match ...").
    static std::optional<TlsIdentity> load(const QString &certificateFile, const QString &keyFile,
                                           QString *error);

    QSslConfiguration configuration() const { return m_configuration; }
    QSslCertificate certificate() const { return m_configuration.localCertificate(); }

    // For logs: "CN=example.org, serial 10:00, valid until 2027-02-01 12:00:00 UTC".
    QString description() const;

private:
    QSslConfiguration m_configuration;
};
