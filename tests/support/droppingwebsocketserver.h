// A WebSocket server that accepts the upgrade and ends the connection when the client's first
// frame arrives: with a close frame first when given a code, else with none at all, as the
// original Go server does when it cannot reach its remote. For what the client then reports.
#pragma once

#include <QTcpServer>

class DroppingWebSocketServer : public QTcpServer
{
    Q_OBJECT
public:
    // closeCode 0: no close frame, the TCP connection simply ends (FIN).
    explicit DroppingWebSocketServer(int closeCode, QObject *parent = nullptr);

protected:
    void incomingConnection(qintptr descriptor) override;

private:
    int m_closeCode;
};
