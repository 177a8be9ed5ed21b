/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <signal.h>
#include <stdarg.h>
#include <string.h>

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

/**
 * vb_test_kill_point:
 * @env: the environment variable of a family of points (VIRTBUS_TEST_*_KILL)
 * @point: this point's name
 *
 * Fault injection for the crash-safety tests: with @env=@point in its environment the
 * service SIGKILLs itself here (the docs of each family name its points). Never set
 * outside tests.
 */
void
vb_test_kill_point(const char *env, const char *point)
{
    const char *v = g_getenv(env);

    if (v != NULL && strcmp(v, point) == 0) {
        g_message("%s: killing the service at '%s'", env, point);
        raise(SIGKILL);
    }
}
