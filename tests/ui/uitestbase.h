// Shared set-up of the widget tests: a profile store in a temporary directory, a tunnel manager,
// the desktop app over them, and our real server process in front of an echo endpoint.
#pragma once

#include "desktopapp.h"
#include "endpoints.h"
#include "loopbackport.h"
#include "profiles/profilestore.h"
#include "towprocess.h"
#include "translations.h"
#include "tunnels/tunnelmanager.h"

#include <QApplication>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <functional>
#include <memory>

constexpr int kUiTimeoutMs = 30000;

class UiTestBase
{
public:
    // Starts the echo endpoint and our server; false (with the server's log) on failure.
    bool startServer()
    {
        if (!echo.listen(QHostAddress::LocalHost))
            return false;
        if (!server.start({QStringLiteral("server"), QStringLiteral("-listen_ws"),
                           QStringLiteral("127.0.0.1:0"), QStringLiteral("-remote_tcp"),
                           QStringLiteral("127.0.0.1:%1").arg(echo.serverPort())})) {
            qWarning().noquote() << server.log();
            return false;
        }
        return true;
    }

    // A fresh store for every test function.
    void createApp()
    {
        ++m_runs;
        store = std::make_unique<ProfileStore>(
            directory.filePath(QStringLiteral("config-%1").arg(m_runs)));
        QString error;
        QVERIFY2(store->load(&error), qPrintable(error));
        manager = std::make_unique<TunnelManager>();
        app = std::make_unique<DesktopApp>(store.get(), manager.get());
    }

    void destroyApp()
    {
        app.reset();
        manager.reset();
        store.reset();
    }

    Profile profile(const QString &name) const
    {
        Profile result;
        result.name = name;
        result.listen = QStringLiteral("127.0.0.1:%1").arg(reserveLoopbackPort());
        result.serverUrl = QStringLiteral("ws://127.0.0.1:%1/").arg(server.port());
        return result;
    }

    EchoServer echo;
    TowProcess server;
    QTemporaryDir directory;
    std::unique_ptr<ProfileStore> store;
    std::unique_ptr<TunnelManager> manager;
    std::unique_ptr<DesktopApp> app;

private:
    int m_runs = 0;
};

// Runs work on the next modal dialog once it is open (the actions open them with exec()).
inline void whenModalOpens(std::function<void(QWidget *)> work)
{
    auto *timer = new QTimer;
    timer->setInterval(50);
    QObject::connect(timer, &QTimer::timeout, timer, [timer, work] {
        if (QWidget *modal = QApplication::activeModalWidget()) {
            timer->deleteLater();
            timer->stop();
            work(modal);
        }
    });
    timer->start();
}

inline quint16 portOf(const Profile &profile)
{
    return quint16(profile.listen.section(QLatin1Char(':'), -1).toUInt());
}
