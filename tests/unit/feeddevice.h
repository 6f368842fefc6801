// A socket-like device for the frame tests: bytes appended by the test, read once, sequential,
// and a record of how much each read asked for.
#pragma once

#include <QByteArray>
#include <QIODevice>
#include <QList>
#include <cstring>

class FeedDevice : public QIODevice
{
public:
    FeedDevice() { open(QIODevice::ReadOnly | QIODevice::Unbuffered); }
    void append(const QByteArray &bytes) { m_data += bytes; }
    bool isSequential() const override { return true; }
    qint64 bytesAvailable() const override { return m_data.size() - m_offset; }

    QList<qint64> asked; // maxSize of each readData() call

protected:
    qint64 readData(char *data, qint64 maxSize) override
    {
        asked.append(maxSize);
        const qint64 size = qMin(maxSize, bytesAvailable());
        std::memcpy(data, m_data.constData() + m_offset, size_t(size));
        m_offset += size;
        return size;
    }
    qint64 writeData(const char *, qint64) override { return -1; }

private:
    QByteArray m_data;
    qsizetype m_offset = 0;
};
