// A real nginx (the Debian package) as the TLS reverse proxy in front of our server, configured
// like the README's example: a location at a sub-path forwarding the upgrade with proxy_pass.
// Runs unprivileged-friendly: every path in a temporary directory, no daemon, loopback port
// chosen at run time.
#pragma once

#include <QProcess>
#include <QString>
#include <QTemporaryDir>

class NginxProcess
{
public:
    struct Config
    {
        quint16 upstreamPort = 0; // our server on 127.0.0.1
        QString location = QStringLiteral("/tunnel/");
        bool tls = true; // needs certificateFile and keyFile
        QString certificateFile;
        QString keyFile;
        int proxyReadTimeoutSeconds = 3600;
        bool passUpgradeHeaders = true; // false: the classic misconfiguration
        QString locationExtra; // more directives inside the location, e.g. "return 401;"
        QString serverExtra; // more directives (locations) inside the server block
    };

    NginxProcess();
    ~NginxProcess();

    // Writes the configuration and starts nginx; true once it accepts connections. On failure
    // false with the reason (and nginx's error log) in *error.
    bool start(const Config &config, QString *error);
    void stop();

    quint16 port() const { return m_port; }
    QString errorLog() const;
    QString directory() const { return m_directory.path(); }

private:
    QTemporaryDir m_directory;
    QProcess m_process;
    quint16 m_port = 0;
};
