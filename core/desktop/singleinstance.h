// Keeps one tray app per user and config: a second launch asks the first to show its window
// (over a QLocalServer named after the key) and leaves.
#pragma once

#include <QObject>
#include <QString>

class QLocalServer;

class SingleInstance : public QObject
{
    Q_OBJECT
public:
    // key: one per user and config directory (see keyFor()).
    explicit SingleInstance(const QString &key, QObject *parent = nullptr);
    ~SingleInstance() override;

    // True when this process is the first: it then serves activationRequested(). False when
    // another instance runs and was asked to show itself.
    bool claim();

    static QString keyFor(const QString &configDirectory);

Q_SIGNALS:
    void activationRequested();

private:
    QString m_key;
    QLocalServer *m_server = nullptr;
};
