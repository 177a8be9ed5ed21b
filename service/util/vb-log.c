/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <stdarg.h>

#include "vb-log.h"

/**
 * vb_log_domain:
 * @log_domain: the module's G_LOG_DOMAIN
 * @level: a GLib log level
 * @domain_name: (nullable): the virtual machine the message is about
 * @format: printf format of the message
 *
 * Logs a structured message carrying VIRTBUS_DOMAIN=@domain_name and
 * prefixed with the domain name for plain-text logs. Any thread.
 */
void
vb_log_domain(const char *log_domain, GLogLevelFlags level, const char *domain_name,
              const char *format, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;
    g_autofree char *full = NULL;

    va_start(ap, format);
    msg = g_strdup_vprintf(format, ap);
    va_end(ap);
    full = domain_name != NULL ? g_strdup_printf("domain '%s': %s", domain_name, msg)
                               : g_steal_pointer(&msg);

    {
        const GLogField fields[] = {
            { "GLIB_DOMAIN", log_domain, -1 },
            { "MESSAGE", full, -1 },
            { "VIRTBUS_DOMAIN", domain_name != NULL ? domain_name : "", -1 },
        };

        g_log_structured_array(level, fields, domain_name != NULL ? 3 : 2);
    }
}
