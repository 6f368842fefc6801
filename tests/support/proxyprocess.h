// A real proxy on loopback for the client's proxy tests: tinyproxy (HTTP CONNECT, Basic auth) or
// microsocks (SOCKS5, user/password), both Debian packages, configured in a temporary directory
// with a port chosen at run time.
#pragma once

#include <QProcess>
#include <QString>
#include <QTemporaryDir>

class ProxyProcess
{
public:
    enum class Kind { HttpConnect, Socks5 };

    ProxyProcess();
    ~ProxyProcess();

    // Starts the proxy requiring user/password; true once it accepts connections. On failure
    // false with the reason (missing package, log) in *error.
    bool start(Kind kind, const QString &user, const QString &password, QString *error);
    void stop();

    quint16 port() const { return m_port; }
    QString log(); // tinyproxy's log file or microsocks's output

private:
    QTemporaryDir m_directory;
    QProcess m_process;
    QString m_output;
    Kind m_kind = Kind::HttpConnect;
    quint16 m_port = 0;
};
