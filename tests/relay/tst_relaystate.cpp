// RelayState without sockets: each side's transitions, and the close rules the relay reads from
// it (which side closes which, with what close code and reason, when a side is given up).
#include "relay/relayoptions.h"
#include "relay/relaystate.h"

#include <QTest>
#include <cerrno>
#include <cstring>

using Tcp = RelayState::Tcp;
using WsRead = RelayState::WsRead;
using WsWrite = RelayState::WsWrite;
using CloseFrame = RelayState::CloseFrame;
using WatchAction = RelayState::WatchAction;

Q_DECLARE_METATYPE(RelayState::Tcp)
Q_DECLARE_METATYPE(RelayState::WatchAction)

namespace QTest {
template<>
char *toString(const RelayState::CloseFrame &frame)
{
    return qstrdup(QStringLiteral("%1 \"%2\"").arg(frame.code).arg(frame.reason).toUtf8());
}
} // namespace QTest

class TestRelayState : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void startsOpenBothWays();
    void tcpConnects();
    void closeTcpWaitsForTheConnection();
    void closeTcpOnceFromEachState_data();
    void closeTcpOnceFromEachState();
    void tcpTakesDataUntilItEndsOrCloses_data();
    void tcpTakesDataUntilItEndsOrCloses();
    void tcpEndGivesReasonAndTailClose_data();
    void tcpEndGivesReasonAndTailClose();
    void tcpEndIsHandledOnce();
    void tcpEndAfterTheWebSocketClosedOwesNoTail();
    void tcpGoneAtTheStartGivesNoReason();
    void remoteUnreachableClosesWith1011();
    void readingPausesAndResumes();
    void transportClosedDrainsWithProvisional1006();
    void closeFrameReadAfterTheTransportClosedIsTheReason();
    void transportClosedWhileClosingKeepsTheReason();
    void drainAndEndOfAnEndedWebSocket();
    void closeWsOnce();
    void closeAfterTailThenClose();
    void closingHandshakeDone();
    void peerCloseIsEchoed_data();
    void peerCloseIsEchoed();
    void peerCloseWhileWeCloseIsNotAnswered();
    void firstReasonWins();
    void finishesOnce();
    void protocolErrors_data();
    void protocolErrors();
    void fixedCloses();
    void closePayload_data();
    void closePayload();
    void watchInterval_data();
    void watchInterval();
    void watch_data();
    void watch();
    void stallReasons();
    void closeTimedOut_data();
    void closeTimedOut();
};

void TestRelayState::startsOpenBothWays()
{
    const RelayState state(Tcp::Open);
    QCOMPARE(state.tcp(), Tcp::Open);
    QCOMPARE(state.wsRead(), WsRead::Open);
    QCOMPARE(state.wsWrite(), WsWrite::Open);
    QVERIFY(!state.isFinished());
    QVERIFY(state.reason().isEmpty());
    QVERIFY(!state.wsClosing());
    QVERIFY(!state.wsEnded());
    QVERIFY(!state.tcpEnded());
    QVERIFY(!state.tcpClosing());
    QVERIFY(state.wsReadMayHoldBack());
}

void TestRelayState::tcpConnects()
{
    RelayState state(Tcp::Ended); // server side, not yet asked to connect
    state.tcpConnecting();
    QVERIFY(state.tcpIsConnecting());
    state.tcpConnected();
    QCOMPARE(state.tcp(), Tcp::Open);
    // Only a connecting socket becomes open.
    RelayState ended(Tcp::Ended);
    ended.tcpConnected();
    QCOMPARE(ended.tcp(), Tcp::Ended);
}

void TestRelayState::closeTcpWaitsForTheConnection()
{
    // The WebSocket side ended while the remote was still being connected: TCP is closed once
    // connected (the relay asks again then).
    RelayState state(Tcp::Connecting);
    QVERIFY(!state.closeTcp());
    QCOMPARE(state.tcp(), Tcp::Connecting);
    state.tcpConnected();
    QVERIFY(state.closeTcp());
    QCOMPARE(state.tcp(), Tcp::Closing);
}

void TestRelayState::closeTcpOnceFromEachState_data()
{
    QTest::addColumn<Tcp>("from");
    QTest::addColumn<bool>("asks");
    QTest::addColumn<Tcp>("to");
    QTest::newRow("connecting") << Tcp::Connecting << false << Tcp::Connecting;
    QTest::newRow("open") << Tcp::Open << true << Tcp::Closing;
    QTest::newRow("closing") << Tcp::Closing << false << Tcp::Closing;
    QTest::newRow("ended") << Tcp::Ended << true << Tcp::Closed;
    QTest::newRow("closed") << Tcp::Closed << false << Tcp::Closed;
}

void TestRelayState::closeTcpOnceFromEachState()
{
    QFETCH(Tcp, from);
    QFETCH(bool, asks);
    QFETCH(Tcp, to);
    RelayState state(from);
    QCOMPARE(state.closeTcp(), asks);
    QCOMPARE(state.tcp(), to);
    QVERIFY(!state.closeTcp()); // never twice
}

void TestRelayState::tcpTakesDataUntilItEndsOrCloses_data()
{
    QTest::addColumn<Tcp>("tcp");
    QTest::addColumn<bool>("takes");
    QTest::addColumn<bool>("ended");
    QTest::addColumn<bool>("closing");
    QTest::newRow("connecting (queued)") << Tcp::Connecting << true << false << false;
    QTest::newRow("open") << Tcp::Open << true << false << false;
    QTest::newRow("closing") << Tcp::Closing << false << false << true;
    QTest::newRow("ended") << Tcp::Ended << false << true << false;
    QTest::newRow("closed") << Tcp::Closed << false << true << true;
}

void TestRelayState::tcpTakesDataUntilItEndsOrCloses()
{
    QFETCH(Tcp, tcp);
    QFETCH(bool, takes);
    QFETCH(bool, ended);
    QFETCH(bool, closing);
    const RelayState state(tcp);
    QCOMPARE(state.tcpTakesData(), takes);
    QCOMPARE(state.tcpEnded(), ended);
    QCOMPARE(state.tcpClosing(), closing);
}

void TestRelayState::tcpEndGivesReasonAndTailClose_data()
{
    QTest::addColumn<bool>("weClose");
    QTest::addColumn<int>("socketError");
    QTest::addColumn<bool>("closedByPeer");
    QTest::addColumn<QString>("reason");
    QTest::addColumn<int>("code");
    QTest::addColumn<QString>("closeReason");
    QTest::addColumn<Tcp>("tcp");
    const QString kernelText = QString::fromLocal8Bit(std::strerror(ETIMEDOUT));

    QTest::newRow("remote closes")
        << false << 0 << true << "tcp closed" << 1000 << "" << Tcp::Ended;
    QTest::newRow("remote resets")
        << false << int(ECONNRESET) << true << "tcp reset" << 1011 << "remote reset" << Tcp::Ended;
    QTest::newRow("kernel error") << false << int(ETIMEDOUT) << true << "tcp error: " + kernelText
                                  << 1011 << "tcp error" << Tcp::Ended;
    // EPIPE: our writes reached a peer that had closed; a close for Qt and for us.
    QTest::newRow("broken pipe") << false << int(EPIPE) << true << "tcp closed" << 1000 << ""
                                 << Tcp::Ended;
    QTest::newRow("qt error") << false << 0 << false << "tcp error: Network down" << 1011
                              << "tcp error" << Tcp::Ended;
    // An error while we close it is no news to the WebSocket peer.
    QTest::newRow("reset while closing")
        << true << int(ECONNRESET) << true << "tcp reset" << 1000 << "" << Tcp::Closed;
    QTest::newRow("qt error while closing")
        << true << 0 << false << "tcp error: Network down" << 1000 << "" << Tcp::Closed;
    QTest::newRow("closed while closing")
        << true << 0 << true << "tcp closed" << 1000 << "" << Tcp::Closed;
}

void TestRelayState::tcpEndGivesReasonAndTailClose()
{
    QFETCH(bool, weClose);
    QFETCH(int, socketError);
    QFETCH(bool, closedByPeer);
    QFETCH(QString, reason);
    QFETCH(int, code);
    QFETCH(QString, closeReason);
    QFETCH(Tcp, tcp);
    RelayState state(Tcp::Open);
    if (weClose)
        QVERIFY(state.closeTcp());
    RelayState::TcpEnd how;
    how.socketError = socketError;
    how.closedByPeer = closedByPeer;
    how.errorText = closedByPeer ? QString() : QStringLiteral("Network down");
    QVERIFY(state.tcpDisconnected(how));
    QCOMPARE(state.tcp(), tcp);
    QCOMPARE(state.reason(), reason);
    QCOMPARE(state.tailClose(), (CloseFrame {code, closeReason}));
    // Every byte TCP delivered goes to the WebSocket first: its close waits behind them.
    QCOMPARE(state.wsWrite(), WsWrite::CloseAfterTail);
    QVERIFY(state.wsCloseAfterTail());
    QVERIFY(!state.wsClosing());
    QVERIFY(!state.tcpTakesData());
}

void TestRelayState::tcpEndIsHandledOnce()
{
    // Qt reports an error, then the disconnect: the second report changes nothing.
    RelayState state(Tcp::Open);
    QVERIFY(state.tcpDisconnected({}));
    RelayState::TcpEnd reset;
    reset.socketError = ECONNRESET;
    QVERIFY(!state.tcpDisconnected(reset));
    QCOMPARE(state.reason(), QStringLiteral("tcp closed"));
    QCOMPARE(state.tailClose(), (CloseFrame {1000, QString()}));
    // Also once the tail went out and the close frame with it.
    QVERIFY(state.closeWs());
    QVERIFY(!state.tcpDisconnected(reset));
    QCOMPARE(state.wsWrite(), WsWrite::CloseSent);
}

void TestRelayState::tcpEndAfterTheWebSocketClosedOwesNoTail()
{
    RelayState state(Tcp::Open);
    CloseFrame answer;
    QVERIFY(state.peerClosed(1000, QString(), false, &answer));
    QVERIFY(state.closeWs());
    QVERIFY(state.tcpDisconnected({}));
    QCOMPARE(state.wsWrite(), WsWrite::CloseSent); // our close is out already
    QCOMPARE(state.tcp(), Tcp::Ended);
    QCOMPARE(state.reason(), QStringLiteral("websocket closed (1000)"));
}

void TestRelayState::tcpGoneAtTheStartGivesNoReason()
{
    // Client side: the local peer sent everything and left during the handshake. Its end is not
    // news; the tail still goes first, then a normal close.
    RelayState state(Tcp::Ended);
    QVERIFY(state.tcpDisconnected({}));
    QVERIFY(state.reason().isEmpty());
    QCOMPARE(state.wsWrite(), WsWrite::CloseAfterTail);
    QCOMPARE(state.tailClose(), (CloseFrame {1000, QString()}));
}

void TestRelayState::remoteUnreachableClosesWith1011()
{
    RelayState state(Tcp::Connecting);
    const CloseFrame close = state.tcpUnreachable(QStringLiteral("Connection refused"));
    QCOMPARE(close, (CloseFrame {1011, QStringLiteral("remote unreachable")}));
    QCOMPARE(state.reason(), QStringLiteral("remote unreachable: Connection refused"));
    QCOMPARE(state.tcp(), Tcp::Ended);
    QVERIFY(state.wsEnded()); // nothing more is taken from the peer
    QVERIFY(!state.tcpTakesData());
    QVERIFY(state.closeWs());
}

void TestRelayState::readingPausesAndResumes()
{
    RelayState state(Tcp::Open);
    QVERIFY(!state.resumeWsRead());
    QVERIFY(state.pauseWsRead());
    QVERIFY(state.wsReadPaused());
    QVERIFY(!state.wsReadMayHoldBack());
    QVERIFY(!state.pauseWsRead());
    QVERIFY(state.resumeWsRead());
    QCOMPARE(state.wsRead(), WsRead::Open);
    // Never once the transport is closed or the side ended.
    QVERIFY(state.wsTransportClosed());
    QVERIFY(!state.pauseWsRead());
    QVERIFY(state.endWsRead());
    QVERIFY(!state.pauseWsRead());
    QVERIFY(!state.resumeWsRead());
}

void TestRelayState::transportClosedDrainsWithProvisional1006()
{
    RelayState state(Tcp::Open);
    QVERIFY(state.pauseWsRead());
    QVERIFY(state.wsTransportClosed());
    // What the transport holds is read in one go: not paused, not held back.
    QCOMPARE(state.wsRead(), WsRead::Draining);
    QVERIFY(!state.wsReadPaused());
    QVERIFY(!state.wsReadMayHoldBack());
    QCOMPARE(state.reason(), QStringLiteral("websocket closed (1006)"));
    QVERIFY(!state.wsTransportClosed()); // once
    // Only data followed: 1006 it is.
    QVERIFY(state.endWsRead());
    QCOMPARE(state.reason(), QStringLiteral("websocket closed (1006)"));
}

void TestRelayState::closeFrameReadAfterTheTransportClosedIsTheReason()
{
    // The peer's close frame waited behind data held back for a slow TCP reader: it, not the
    // transport's close, is why the tunnel ends.
    RelayState state(Tcp::Open);
    QVERIFY(state.pauseWsRead());
    QVERIFY(state.wsTransportClosed());
    const bool replaces = state.frameEndsWs();
    QVERIFY(replaces);
    QVERIFY(!state.frameEndsWs()); // once
    CloseFrame answer;
    QVERIFY(state.peerClosed(1000, QStringLiteral("done"), replaces, &answer));
    QCOMPARE(state.reason(), QStringLiteral("websocket closed (1000 done)"));

    // A text or broken frame: its protocol error.
    RelayState broken(Tcp::Open);
    QVERIFY(broken.wsTransportClosed());
    QVERIFY(broken.frameEndsWs());
    broken.setReason(RelayState::textMessageReason());
    QCOMPARE(broken.reason(), QStringLiteral("protocol error: text message received"));
}

void TestRelayState::transportClosedWhileClosingKeepsTheReason()
{
    RelayState state(Tcp::Open);
    state.setReason(RelayState::shutdownReason());
    QVERIFY(state.closeWs());
    QVERIFY(state.wsTransportClosed());
    QVERIFY(!state.frameEndsWs());
    QCOMPARE(state.reason(), QStringLiteral("server shutting down"));

    // We closed first (no reason yet, e.g. after the peer's close): no 1006 either.
    RelayState closing(Tcp::Open);
    QVERIFY(closing.closeWs());
    QVERIFY(closing.wsTransportClosed());
    QVERIFY(closing.reason().isEmpty());
}

void TestRelayState::drainAndEndOfAnEndedWebSocket()
{
    RelayState state(Tcp::Open);
    state.drainWs(); // both sockets closed: read what is left
    QCOMPARE(state.wsRead(), WsRead::Draining);
    QVERIFY(state.reason().isEmpty()); // not a transport's close: no reason given
    QVERIFY(state.endWsRead());
    state.drainWs();
    QCOMPARE(state.wsRead(), WsRead::Ended);
    QVERIFY(!state.endWsRead());
}

void TestRelayState::closeWsOnce()
{
    RelayState state(Tcp::Open);
    QVERIFY(state.closeWs());
    QVERIFY(state.wsClosing());
    QCOMPARE(state.wsWrite(), WsWrite::CloseSent);
    QVERIFY(!state.closeWs());
}

void TestRelayState::closeAfterTailThenClose()
{
    RelayState state(Tcp::Open);
    QVERIFY(state.tcpDisconnected({}));
    QVERIFY(state.wsCloseAfterTail());
    QVERIFY(state.closeWs()); // the tail is queued
    QVERIFY(!state.wsCloseAfterTail());
    QVERIFY(state.wsClosing());
}

void TestRelayState::closingHandshakeDone()
{
    RelayState state(Tcp::Open);
    QVERIFY(state.closeWs());
    QVERIFY(!state.wsClosesWhenWritten());
    state.wsCloseDone();
    QVERIFY(state.wsClosesWhenWritten());
    QVERIFY(state.wsClosing());
    state.wsTransportClosing();
    QVERIFY(!state.wsClosesWhenWritten());
    QVERIFY(state.wsClosing());
    QVERIFY(!state.closeWs());
}

void TestRelayState::peerCloseIsEchoed_data()
{
    QTest::addColumn<int>("code");
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("reason");
    QTest::addColumn<int>("answerCode");
    QTest::newRow("1000") << 1000 << ""
                          << "websocket closed (1000)" << 1000;
    QTest::newRow("1001 with text") << 1001 << "bye"
                                    << "websocket closed (1001 bye)" << 1001;
    QTest::newRow("4000") << 4000 << "app"
                          << "websocket closed (4000 app)" << 4000;
    // A close without a code (1005 as read) is answered without one.
    QTest::newRow("no code") << 1005 << ""
                             << "websocket closed (1005)" << 0;
}

void TestRelayState::peerCloseIsEchoed()
{
    QFETCH(int, code);
    QFETCH(QString, text);
    QFETCH(QString, reason);
    QFETCH(int, answerCode);
    RelayState state(Tcp::Open);
    CloseFrame answer {-1, QStringLiteral("x")};
    QVERIFY(state.peerClosed(code, text, false, &answer));
    QCOMPARE(answer, (CloseFrame {answerCode, QString()}));
    QCOMPARE(state.reason(), reason);
    QCOMPARE(RelayState::closePayload(answer).size(), answerCode == 0 ? 0 : 2);
}

void TestRelayState::peerCloseWhileWeCloseIsNotAnswered()
{
    RelayState state(Tcp::Open);
    state.setReason(RelayState::idleReason());
    QVERIFY(state.closeWs());
    CloseFrame answer {-1, QString()};
    QVERIFY(!state.peerClosed(1000, QString(), false, &answer));
    QCOMPARE(answer.code, -1);
    QCOMPARE(state.reason(), QStringLiteral("idle timeout"));
}

void TestRelayState::firstReasonWins()
{
    RelayState state(Tcp::Open);
    state.setReason(QStringLiteral("tcp error: Network down"));
    QVERIFY(state.tcpDisconnected({})); // "tcp closed" comes second
    QCOMPARE(state.reason(), QStringLiteral("tcp error: Network down"));
}

void TestRelayState::finishesOnce()
{
    RelayState state(Tcp::Open);
    QVERIFY(state.finish());
    QVERIFY(state.isFinished());
    QVERIFY(!state.finish());
}

void TestRelayState::protocolErrors_data()
{
    QTest::addColumn<int>("code");
    QTest::addColumn<QString>("closeReason");
    QTest::newRow("too big") << 1009 << "message too big";
    QTest::newRow("protocol") << 1002 << "protocol error";
    QTest::newRow("not utf-8") << 1007 << "protocol error";
}

void TestRelayState::protocolErrors()
{
    QFETCH(int, code);
    QFETCH(QString, closeReason);
    QCOMPARE(RelayState::brokenFrameClose(code), (CloseFrame {code, closeReason}));
    QCOMPARE(RelayState::brokenFrameReason(QStringLiteral("a close frame has a 1-byte body")),
             QStringLiteral("protocol error: a close frame has a 1-byte body"));
    // A text message: 1003, the wire contract's answer.
    QCOMPARE(RelayState::textMessageClose(),
             (CloseFrame {1003, QStringLiteral("text messages are not supported")}));
}

void TestRelayState::fixedCloses()
{
    QCOMPARE(RelayState::shutdownClose(), (CloseFrame {1001, QStringLiteral("going away")}));
    QCOMPARE(RelayState::shutdownReason(), QStringLiteral("server shutting down"));
    QCOMPARE(RelayState::idleClose(), (CloseFrame {1000, QStringLiteral("idle timeout")}));
    QCOMPARE(RelayState::tcpStalledClose(),
             (CloseFrame {1011, QStringLiteral("remote not reading")}));
    QCOMPARE(RelayState::wsCloseTimedOutReason(), QStringLiteral("websocket close timed out"));
    QCOMPARE(RelayState::tcpCloseTimedOutReason(),
             QStringLiteral("tcp peer stopped reading while closing"));
}

void TestRelayState::closePayload_data()
{
    QTest::addColumn<int>("code");
    QTest::addColumn<QString>("reason");
    QTest::addColumn<QByteArray>("payload");
    QTest::newRow("no code") << 0 << "" << QByteArray();
    QTest::newRow("1000") << 1000 << "" << QByteArray::fromHex("03e8");
    QTest::newRow("1011 reason") << 1011 << "remote not reading"
                                 << QByteArray::fromHex("03f3") + "remote not reading";
    // A control frame carries at most 125 bytes.
    QTest::newRow("long reason") << 1000 << QString(200, QLatin1Char('a'))
                                 << QByteArray::fromHex("03e8") + QByteArray(123, 'a');
}

void TestRelayState::closePayload()
{
    QFETCH(int, code);
    QFETCH(QString, reason);
    QFETCH(QByteArray, payload);
    QCOMPARE(RelayState::closePayload({code, reason}), payload);
}

void TestRelayState::watchInterval_data()
{
    QTest::addColumn<int>("keepAliveMs");
    QTest::addColumn<int>("stallMs");
    QTest::addColumn<int>("intervalMs");
    QTest::newRow("defaults") << 10000 << 120000 << 10000;
    QTest::newRow("no keep-alive") << 0 << 120000 << 10000;
    QTest::newRow("nothing to watch") << 0 << 0 << 0;
    QTest::newRow("keep-alive only") << 3000 << 0 << 3000;
    QTest::newRow("short stall") << 10000 << 1000 << 1000;
    QTest::newRow("short stall, no keep-alive") << 0 << 3000 << 3000;
}

void TestRelayState::watchInterval()
{
    QFETCH(int, keepAliveMs);
    QFETCH(int, stallMs);
    QFETCH(int, intervalMs);
    RelayOptions options;
    options.keepAliveIntervalMs = keepAliveMs;
    options.stallTimeoutMs = stallMs;
    QCOMPARE(RelayState::watchIntervalMs(options), intervalMs);
}

void TestRelayState::watch_data()
{
    // Defaults: keep-alive 10 s, stall 120 s, low watermark 256 KiB.
    QTest::addColumn<qint64>("tcpQueued");
    QTest::addColumn<qint64>("tcpSince");
    QTest::addColumn<qint64>("wsQueued");
    QTest::addColumn<qint64>("wsSince");
    QTest::addColumn<qint64>("sinceData");
    QTest::addColumn<bool>("paused");
    QTest::addColumn<int>("stallMs");
    QTest::addColumn<WatchAction>("action");
    QTest::addColumn<int>("nextMs");
    const qint64 low = RelayOptions().lowWatermarkBytes;

    QTest::newRow("data moved just now")
        << qint64(0) << qint64(0) << qint64(0) << qint64(0) << qint64(2000) << false << 120000
        << WatchAction::None << 8000;
    QTest::newRow("idle: keep-alive")
        << qint64(0) << qint64(0) << qint64(0) << qint64(0) << qint64(10000) << false << 120000
        << WatchAction::KeepAlive << 10000;
    // The remote reads nothing (stall timeout): the client is told 1011.
    QTest::newRow("tcp stalled") << qint64(1) << qint64(120001) << qint64(0) << qint64(0)
                                 << qint64(130000) << true << 120000 << WatchAction::CloseTcpStalled
                                 << 0;
    QTest::newRow("tcp at the limit") << qint64(1) << qint64(120000) << qint64(0) << qint64(0)
                                      << qint64(0) << false << 120000 << WatchAction::None << 10000;
    QTest::newRow("tcp nothing queued")
        << qint64(0) << qint64(999999) << qint64(0) << qint64(0) << qint64(0) << false << 120000
        << WatchAction::None << 10000;
    QTest::newRow("ws stalled") << qint64(0) << qint64(0) << qint64(5) << qint64(120001)
                                << qint64(0) << false << 120000 << WatchAction::CloseWsStalled << 0;
    QTest::newRow("both stalled: tcp")
        << qint64(5) << qint64(120001) << qint64(5) << qint64(120001) << qint64(0) << false
        << 120000 << WatchAction::CloseTcpStalled << 0;
    QTest::newRow("stall timeout off")
        << qint64(5) << qint64(9999999) << qint64(5) << qint64(9999999) << qint64(0) << false << 0
        << WatchAction::None << 10000;
    // Paused for a remote that takes nothing: a ping tells whether the client is still there.
    QTest::newRow("paused, tcp stalled: ping")
        << qint64(1) << qint64(10001) << low << qint64(0) << qint64(20000) << true << 120000
        << WatchAction::Ping << 10000;
    QTest::newRow("paused, peer slow itself")
        << qint64(1) << qint64(10001) << low + 1 << qint64(0) << qint64(20000) << true << 120000
        << WatchAction::None << 10000;
    QTest::newRow("paused, tcp still taking")
        << qint64(1) << qint64(10000) << qint64(0) << qint64(0) << qint64(20000) << true << 120000
        << WatchAction::None << 10000;
    // Paused: no keep-alive message (data waits), however long idle.
    QTest::newRow("paused, idle") << qint64(0) << qint64(0) << qint64(0) << qint64(0)
                                  << qint64(50000) << true << 120000 << WatchAction::None << 10000;
}

void TestRelayState::watch()
{
    QFETCH(qint64, tcpQueued);
    QFETCH(qint64, tcpSince);
    QFETCH(qint64, wsQueued);
    QFETCH(qint64, wsSince);
    QFETCH(qint64, sinceData);
    QFETCH(bool, paused);
    QFETCH(int, stallMs);
    QFETCH(WatchAction, action);
    QFETCH(int, nextMs);
    RelayOptions options;
    options.stallTimeoutMs = stallMs;
    RelayState::Clocks clocks;
    clocks.tcpQueuedBytes = tcpQueued;
    clocks.tcpSinceProgressMs = tcpSince;
    clocks.wsQueuedBytes = wsQueued;
    clocks.wsSinceProgressMs = wsSince;
    clocks.sinceDataMs = sinceData;
    const RelayState::Watch watch = RelayState::watch(clocks, paused, options);
    QCOMPARE(watch.action, action);
    QCOMPARE(watch.nextMs, nextMs);
}

void TestRelayState::stallReasons()
{
    RelayOptions options;
    options.stallTimeoutMs = 60000;
    QCOMPARE(RelayState::stallReason(WatchAction::CloseTcpStalled, options),
             QStringLiteral("tcp peer took no data for 60 s"));
    QCOMPARE(RelayState::stallReason(WatchAction::CloseWsStalled, options),
             QStringLiteral("websocket peer took no data for 60 s"));
}

void TestRelayState::closeTimedOut_data()
{
    // Defaults: closeStallTimeoutMs 30 s, closeTimeoutMs 5 s. The same for either side.
    QTest::addColumn<qint64>("pending");
    QTest::addColumn<qint64>("sinceProgress");
    QTest::addColumn<bool>("timedOut");
    QTest::newRow("tail taken lately") << qint64(100) << qint64(29000) << false;
    QTest::newRow("tail at the limit") << qint64(100) << qint64(30000) << false;
    QTest::newRow("tail stalled") << qint64(100) << qint64(30001) << true;
    QTest::newRow("tail slow, not stalled") << qint64(100) << qint64(6000) << false;
    QTest::newRow("all written, answer due") << qint64(0) << qint64(5000) << false;
    QTest::newRow("all written, no answer") << qint64(0) << qint64(5001) << true;
}

void TestRelayState::closeTimedOut()
{
    QFETCH(qint64, pending);
    QFETCH(qint64, sinceProgress);
    QFETCH(bool, timedOut);
    QCOMPARE(RelayState::closeTimedOut(pending, sinceProgress, RelayOptions()), timedOut);
}

QTEST_APPLESS_MAIN(TestRelayState)
#include "tst_relaystate.moc"
