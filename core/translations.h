// Installs the program's translations (resources/translations/, built into the resource :/i18n/)
// on the application.
//
// English comes first, whatever the locale: it holds the plural forms of the count-dependent
// texts ("1 connection", "2 connections"), whose source texts read "%n connection(s)". A
// translation into another language, installed after it, would be searched first.
#pragma once

class QCoreApplication;

namespace Translations {

// The translators become children of app; false (and a warning) if the English one is missing,
// as in builds without the tray app (TOW_BUILD_UI=OFF), which have no translations.
bool install(QCoreApplication *app);

} // namespace Translations
