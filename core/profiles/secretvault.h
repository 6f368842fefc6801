// A place for secrets besides the owner-only file: the platform's keychain, reached
// asynchronously. The profile store uses one when the program gives it one (keychain/ makes it).
//
// A plain interface without signals: on Linux the keychain lives in a module of its own (see
// keychain/README.md) that carries its own copy of core, so nothing here may depend on one copy's
// meta-object. Answers arrive later, on the thread that asked, once per request.
#pragma once

#include <QByteArray>
#include <QString>
#include <functional>

class SecretVault
{
public:
    struct Answer
    {
        enum class Status { Done, NotFound, Failed };
        Status status = Status::Failed;
        QByteArray data; // what read() found
        QString error; // a sentence for a person when Failed; never holds the secret
    };
    using Callback = std::function<void(const Answer &)>;

    virtual ~SecretVault() = default;

    virtual void read(const QString &key, Callback done) = 0;
    virtual void write(const QString &key, const QByteArray &data, Callback done) = 0;
    virtual void remove(const QString &key, Callback done) = 0;
    // What the vault is, for messages ("the keychain (Secret Service)").
    virtual QString description() const = 0;
};
