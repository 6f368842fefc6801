#include "nginxprocess.h"

#include "loopbackport.h"
#include "processready.h"

#include <QDir>
#include <QFile>
#include <QStandardPaths>
#include <QThread>

NginxProcess::NginxProcess()
{
    m_process.setProcessChannelMode(QProcess::MergedChannels);
}

NginxProcess::~NginxProcess()
{
    stop();
}

QString NginxProcess::errorLog() const
{
    QFile file(QDir(m_directory.path()).filePath(QStringLiteral("error.log")));
    if (!file.open(QIODevice::ReadOnly))
        return QString();
    return QString::fromUtf8(file.readAll());
}

bool NginxProcess::start(const Config &config, QString *error)
{
    QString nginx = QStandardPaths::findExecutable(QStringLiteral("nginx"));
    if (nginx.isEmpty())
        nginx = QStandardPaths::findExecutable(
            QStringLiteral("nginx"), {QStringLiteral("/usr/sbin"), QStringLiteral("/sbin")});
    if (nginx.isEmpty()) {
        *error = QStringLiteral("nginx not found: install the Debian package nginx "
                                "(scripts/install-deps.sh build test)");
        return false;
    }
    if (!m_directory.isValid()) {
        *error = QStringLiteral("no temporary directory: %1").arg(m_directory.errorString());
        return false;
    }
    const QDir dir(m_directory.path());
    dir.mkpath(QStringLiteral("tmp"));

    // nginx needs a number in its configuration. Should a program outside the tests have taken
    // the port all the same, nginx says so: then another one.
    for (int attempt = 0; attempt < 5; ++attempt) {
        m_port = reserveLoopbackPort();
        const QString upgrade = config.passUpgradeHeaders
            ? QStringLiteral("            proxy_set_header Upgrade $http_upgrade;\n"
                             "            proxy_set_header Connection \"upgrade\";\n")
            : QString();
        const QString tls = config.tls
            ? QStringLiteral("        ssl_certificate %1;\n        ssl_certificate_key %2;\n")
                  .arg(config.certificateFile, config.keyFile)
            : QString();
        const QString text =
            QStringLiteral("daemon off;\n"
                           "master_process off;\n"
                           "pid %1/nginx.pid;\n"
                           "error_log %1/error.log info;\n"
                           "events { worker_connections 256; }\n"
                           "http {\n"
                           "    access_log %1/access.log;\n"
                           "    client_body_temp_path %1/tmp/body;\n"
                           "    proxy_temp_path %1/tmp/proxy;\n"
                           "    fastcgi_temp_path %1/tmp/fastcgi;\n"
                           "    uwsgi_temp_path %1/tmp/uwsgi;\n"
                           "    scgi_temp_path %1/tmp/scgi;\n"
                           "    server {\n"
                           "        listen 127.0.0.1:%2%3;\n"
                           "        server_name localhost;\n"
                           "%4"
                           "        location %5 {\n"
                           "%6"
                           "            proxy_pass http://127.0.0.1:%7/;\n"
                           "            proxy_http_version 1.1;\n"
                           "%8"
                           "            proxy_set_header Host $host;\n"
                           "            proxy_read_timeout %9s;\n"
                           "            proxy_buffering off;\n"
                           "            proxy_buffer_size 16k;\n"
                           "            proxy_busy_buffers_size 16k;\n"
                           "        }\n")
                .arg(dir.path())
                .arg(m_port)
                .arg(config.tls ? QStringLiteral(" ssl") : QString(), tls, config.location,
                     config.locationExtra.isEmpty()
                         ? QString()
                         : QStringLiteral("            %1\n").arg(config.locationExtra))
                .arg(config.upstreamPort)
                .arg(upgrade)
                .arg(config.proxyReadTimeoutSeconds)
            + config.serverExtra + QStringLiteral("\n    }\n}\n");
        QFile file(dir.filePath(QStringLiteral("nginx.conf")));
        if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
            *error = file.errorString();
            return false;
        }
        file.write(text.toUtf8());
        file.close();

        m_process.start(nginx,
                        {QStringLiteral("-p"), dir.path(), QStringLiteral("-c"), file.fileName(),
                         QStringLiteral("-e"), dir.filePath(QStringLiteral("error.log"))});
        if (!m_process.waitForStarted(10000)) {
            *error = QStringLiteral("cannot start nginx: %1").arg(m_process.errorString());
            return false;
        }
        if (waitUntilAccepting(m_process, m_port))
            return true;
        const QString output = QString::fromLocal8Bit(m_process.readAll());
        stop();
        if (!errorLog().contains(QLatin1String("Address already in use"))) {
            *error = QStringLiteral("nginx did not start: %1\n%2").arg(output, errorLog());
            return false;
        }
    }
    *error = QStringLiteral("nginx found no free port: %1").arg(errorLog());
    return false;
}

void NginxProcess::stop()
{
    if (m_process.state() == QProcess::NotRunning)
        return;
    m_process.terminate();
    if (!m_process.waitForFinished(10000)) {
        m_process.kill();
        m_process.waitForFinished(5000);
    }
}
