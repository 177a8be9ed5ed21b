/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vb_notify() (service/util/vb-notify.c) against a real datagram socket, as a
 * service manager listens: a path and an abstract address get the exact
 * bytes; no, an empty or an unusable $NOTIFY_SOCKET and one nobody listens on
 * send nothing and return FALSE.
 */
#include "config.h"

#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "vb-notify.h"

static int
listen_on(const char *name)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len = strlen(name);
    socklen_t sa_len = offsetof(struct sockaddr_un, sun_path) + len;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    g_assert_cmpint(fd, >=, 0);
    memcpy(sa.sun_path, name, len);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    else
        sa_len++;
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sa_len), ==, 0);
    return fd;
}

static char *
received(int fd)
{
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);

    return n < 0 ? NULL : g_strndup(buf, n);
}

static void
test_path(void)
{
    g_autofree char *dir = g_dir_make_tmp("vb-notify-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "notify", NULL);
    g_autofree char *got = NULL;
    int fd = listen_on(path);

    g_setenv("NOTIFY_SOCKET", path, TRUE);
    g_assert_true(vb_notify("READY=1\nSTATUS=Serving x"));
    got = received(fd);
    g_assert_cmpstr(got, ==, "READY=1\nSTATUS=Serving x");
    close(fd);
    /* nobody listens there any more */
    g_assert_false(vb_notify("STOPPING=1"));
    g_unlink(path);
    g_rmdir(dir);
}

static void
test_abstract(void)
{
    g_autofree char *name = g_strdup_printf("@vb-notify-test-%d", (int)getpid());
    g_autofree char *got = NULL;
    int fd = listen_on(name);

    g_setenv("NOTIFY_SOCKET", name, TRUE);
    g_assert_true(vb_notify("STOPPING=1"));
    got = received(fd);
    g_assert_cmpstr(got, ==, "STOPPING=1");
    close(fd);
}

static void
test_no_manager(void)
{
    g_autofree char *long_name = g_strnfill(200, 'a');
    g_autofree char *long_path = g_strconcat("/", long_name, NULL);

    g_unsetenv("NOTIFY_SOCKET");
    g_assert_false(vb_notify("READY=1"));
    g_setenv("NOTIFY_SOCKET", "", TRUE);
    g_assert_false(vb_notify("READY=1"));
    g_setenv("NOTIFY_SOCKET", "relative/path", TRUE);
    g_assert_false(vb_notify("READY=1"));
    g_setenv("NOTIFY_SOCKET", "@", TRUE);
    g_assert_false(vb_notify("READY=1"));
    g_setenv("NOTIFY_SOCKET", long_path, TRUE);
    g_assert_false(vb_notify("READY=1"));
    g_setenv("NOTIFY_SOCKET", "/nonexistent/vb-notify", TRUE);
    g_assert_false(vb_notify("READY=1"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/notify/path", test_path);
    g_test_add_func("/notify/abstract", test_abstract);
    g_test_add_func("/notify/no-manager", test_no_manager);
    return g_test_run();
}
