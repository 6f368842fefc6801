#include "translations.h"

#include "logcategories.h"

#include <QCoreApplication>
#include <QTranslator>

bool Translations::install(QCoreApplication *app)
{
    auto *english = new QTranslator(app);
    const QString file = QStringLiteral(":/i18n/tcp-over-websocket_en.qm");
    if (!english->load(file) || !QCoreApplication::installTranslator(english)) {
        qCWarning(lcUi) << "cannot install the translation" << file;
        delete english;
        return false;
    }
    return true;
}
