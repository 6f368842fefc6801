// The main() of in-process tests that run on both event loops the product uses: Qt's own (the
// tray app's) and, built with TOW_TEST_EPOLL_DISPATCHER, the headless faces' epoll loop.
#pragma once

#include <QCoreApplication>
#include <QTest>

#ifdef TOW_TEST_EPOLL_DISPATCHER
#include "eventloop/epolleventdispatcher.h"
#define TOW_TEST_INSTALL_DISPATCHER() QCoreApplication::setEventDispatcher(new EpollEventDispatcher)
#else
#define TOW_TEST_INSTALL_DISPATCHER()
#endif

#define TOW_TEST_MAIN(TestObject)                                                                  \
    int main(int argc, char *argv[])                                                               \
    {                                                                                              \
        TOW_TEST_INSTALL_DISPATCHER();                                                             \
        QCoreApplication app(argc, argv);                                                          \
        TestObject test;                                                                           \
        return QTest::qExec(&test, argc, argv);                                                    \
    }
