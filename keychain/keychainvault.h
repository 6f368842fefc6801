// The platform's keychain as a SecretVault, through QtKeychain: Windows Credential Manager, macOS
// Keychain, the Secret Service (GNOME Keyring, KWallet) on Linux.
//
// QtKeychain's jobs run one at a time on one thread per process that this class starts and
// stops at the application's end: the headless client's event loop (epoll, core/eventloop) does
// not run the GLib main context that libsecret answers on, and the tray app's must never wait.
// Every request answers once, at the latest after the timeout given here.
#pragma once

#include "profiles/secretvault.h"

#include <QObject>
#include <memory>

class KeychainVault final : public SecretVault
{
public:
    // service: the keychain's name for our entries ("tcp-over-websocket").
    KeychainVault(const QString &service, int timeoutMs);
    ~KeychainVault() override;

    void read(const QString &key, Callback done) override;
    void write(const QString &key, const QByteArray &data, Callback done) override;
    void remove(const QString &key, Callback done) override;
    QString description() const override;

private:
    enum class Operation { Read, Write, Remove };
    void start(Operation operation, const QString &key, const QByteArray &data, Callback done);

    struct Mailbox;

    QString m_service;
    int m_timeoutMs;
    // Lives on the asking thread: answers and timeouts are delivered to it, and die with it.
    std::unique_ptr<QObject> m_receiver;
    std::shared_ptr<Mailbox> m_mailbox; // the keychain thread's way to m_receiver
};
