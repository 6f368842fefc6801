#include "regularfile.h"

#include <QFile>
#include <QFileInfo>

#ifdef Q_OS_UNIX
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace {

#ifdef Q_OS_UNIX
QString notRegular(mode_t mode)
{
    const char *what = S_ISFIFO(mode)      ? "a FIFO (named pipe)"
        : S_ISDIR(mode)                    ? "a directory"
        : S_ISSOCK(mode)                   ? "a socket"
        : (S_ISCHR(mode) || S_ISBLK(mode)) ? "a device"
                                           : "a special file";
    return QStringLiteral("it is %1, not a regular file").arg(QLatin1String(what));
}
#endif

} // namespace

std::optional<QByteArray> RegularFile::read(const QString &path, qint64 maxBytes, QString *error)
{
#ifdef Q_OS_UNIX
    // Look before opening: opening some devices has effects of its own. Then open without
    // blocking (a FIFO without a writer would block open() itself) and check what was opened,
    // which may have been replaced in between.
    struct stat status = {};
    const QByteArray name = QFile::encodeName(path);
    if (::stat(name.constData(), &status) != 0) {
        *error = QString::fromLocal8Bit(std::strerror(errno));
        return std::nullopt;
    }
    if (!S_ISREG(status.st_mode)) {
        *error = notRegular(status.st_mode);
        return std::nullopt;
    }
    const int fd = ::open(name.constData(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        *error = QString::fromLocal8Bit(std::strerror(errno));
        return std::nullopt;
    }
    if (::fstat(fd, &status) != 0) {
        *error = QString::fromLocal8Bit(std::strerror(errno));
        ::close(fd);
        return std::nullopt;
    }
    if (!S_ISREG(status.st_mode)) {
        *error = notRegular(status.st_mode);
        ::close(fd);
        return std::nullopt;
    }
    QFile file;
    if (!file.open(fd, QIODevice::ReadOnly, QFileDevice::AutoCloseHandle)) {
        *error = file.errorString();
        ::close(fd);
        return std::nullopt;
    }
#else
    if (!QFileInfo(path).isFile()) {
        *error = QFileInfo::exists(path) ? QStringLiteral("it is not a regular file")
                                         : QStringLiteral("No such file or directory");
        return std::nullopt;
    }
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *error = file.errorString();
        return std::nullopt;
    }
#endif
    const QByteArray content = file.read(maxBytes);
    if (file.error() != QFileDevice::NoError) {
        *error = file.errorString();
        return std::nullopt;
    }
    return content;
}

std::optional<QString> RegularFile::readSecret(const QString &path, QString *error)
{
    constexpr qint64 kMaxSecretFileBytes = 64 * 1024;
    QString why;
    const auto read = RegularFile::read(path, kMaxSecretFileBytes + 1, &why);
    if (!read) {
        *error = QStringLiteral("cannot read %1: %2").arg(path, why);
        return std::nullopt;
    }
    const QByteArray content = read->trimmed();
    if (content.size() > kMaxSecretFileBytes) {
        *error = QStringLiteral("%1 is larger than %2 bytes; expected one token")
                     .arg(path)
                     .arg(kMaxSecretFileBytes);
        return std::nullopt;
    }
    if (content.isEmpty()) {
        *error = QStringLiteral("%1 is empty; expected the token").arg(path);
        return std::nullopt;
    }
    if (content.contains('\n') || content.contains('\r')) {
        *error = QStringLiteral("%1 holds several lines; expected one token").arg(path);
        return std::nullopt;
    }
    return QString::fromUtf8(content);
}
