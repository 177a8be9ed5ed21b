/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Golden tests of the QEMU command line: tests/qemu/xml2argv/NAME.xml is parsed, given its
 * define-time addresses (vb_domain_def_assign_addresses()) and built against the hand-made
 * QEMU 7.2 caps (test-caps.c; names starting with "kvm-" get caps with KVM). The result is
 * compared with NAME.args (one argument per line), or, when NAME.err exists, the build must
 * fail with a message containing NAME.err's first line. Every built argv is also read back
 * as QEMU reads it (argv-check.c): no value may add a key to its option.
 * VB_TEST_REGENERATE=1 rewrites the .args files instead of comparing.
 */
#include "config.h"

#include <string.h>

#include "domain-def-priv.h"
#include "qemu-command.h"
#include "argv-check.h"
#include "test-caps.h"
#include "vb-error.h"

static char *data_dir;

static char *
data_path(const char *name, const char *ext)
{
    g_autofree char *file = g_strconcat(name, ext, NULL);

    return g_build_filename(data_dir, file, NULL);
}

static GStrv
build_case_full(const char *name, guint *out_taint, guint *out_passthrough, GError **error)
{
    g_autofree char *xml_path = data_path(name, ".xml");
    g_autofree char *xml = NULL;
    g_autofree char *dir = g_strdup_printf("/run/vb-test/domain-1-%s", name);
    g_autofree char *mon = g_build_filename(dir, "monitor.sock", NULL);
    g_autofree char *pid = g_build_filename(dir, "qemu.pid", NULL);
    g_autoptr(VbDomainDef) def = NULL;
    VbQemuCaps *caps = test_caps_new(g_str_has_prefix(name, "kvm-"));
    VbQemuCommandParams params = { 1, mon, pid, dir, 5900 };
    g_autoptr(GPtrArray) huge = g_ptr_array_new_with_free_func(g_free);
    VbHugetlbfs huge2m = { (char *)"/dev/hugepages", 2048, TRUE };
    VbHugetlbfs huge1g = { (char *)"/dev/hugepages1G", 1048576, FALSE };
    GStrv argv = NULL;

    params.websocket_port = 5700;
    /* cases named nosandbox-* are built with seccomp_sandbox=no */
    params.no_sandbox = g_str_has_prefix(name, "nosandbox-");
    /* cases named hugepages-* run on a host with 2 MiB and 1 GiB hugetlbfs mounts */
    if (g_str_has_prefix(name, "hugepages-")) {
        g_ptr_array_set_free_func(huge, NULL);
        g_ptr_array_add(huge, &huge2m);
        g_ptr_array_add(huge, &huge1g);
        params.hugetlbfs = huge;
    }

    g_assert_true(g_file_get_contents(xml_path, &xml, NULL, NULL));
    def = vb_domain_def_parse_string(xml, VB_DOMAIN_DEF_PARSE_INACTIVE, error);
    if (def != NULL && vb_domain_def_assign_addresses(def, error))
        argv = vb_qemu_command_build(def, caps, &params, out_taint, error);
    if (argv != NULL && out_passthrough != NULL) {
        g_auto(GStrv) args = NULL;
        g_auto(GStrv) env = NULL;

        g_assert_true(vb_domain_def_get_qemu_commandline(def, &args, &env, NULL));
        *out_passthrough = g_strv_length(args);
    }
    test_caps_free(caps);
    return argv;
}

static GStrv
build_case(const char *name, guint *out_taint, GError **error)
{
    return build_case_full(name, out_taint, NULL, error);
}

static void
test_case(gconstpointer data)
{
    const char *name = data;
    g_autofree char *args_path = data_path(name, ".args");
    g_autofree char *err_path = data_path(name, ".err");
    g_autoptr(GError) error = NULL;
    guint passthrough = 0;
    g_auto(GStrv) argv = build_case_full(name, NULL, &passthrough, &error);
    g_autoptr(GError) check_error = NULL;
    g_autofree char *expected = NULL;
    g_autofree char *joined = NULL;
    g_autofree char *actual = NULL;

    if (g_file_test(err_path, G_FILE_TEST_EXISTS)) {
        g_assert_true(g_file_get_contents(err_path, &expected, NULL, NULL));
        g_strstrip(expected);
        g_assert_null(argv);
        g_assert_nonnull(error);
        if (strstr(error->message, expected) == NULL) {
            g_test_message("error '%s' does not contain '%s'", error->message, expected);
            g_test_fail();
        }
        return;
    }
    g_assert_no_error(error);
    if (argv == NULL)
        return;
    /* whatever the XML holds, every option carries only the keys the builder writes */
    if (!test_argv_check((const char *const *)argv, passthrough, &check_error)) {
        g_test_message("%s: %s", name, check_error->message);
        g_test_fail();
    }
    joined = g_strjoinv("\n", argv);
    actual = g_strconcat(joined, "\n", NULL);
    if (g_strcmp0(g_getenv("VB_TEST_REGENERATE"), "1") == 0) {
        g_assert_true(g_file_set_contents(args_path, actual, -1, NULL));
        return;
    }
    if (!g_file_get_contents(args_path, &expected, NULL, NULL)) {
        g_test_message("%s missing; see tests/qemu/xml2argv/README.md", args_path);
        g_test_fail();
        return;
    }
    g_assert_cmpstr(actual, ==, expected);
}

static void
test_taint(void)
{
    g_autoptr(GError) error = NULL;
    guint taint = 0;
    g_auto(GStrv) a = build_case("qemu-commandline", &taint, &error);
    g_auto(GStrv) b = NULL;
    g_auto(GStrv) c = NULL;

    g_assert_no_error(error);
    g_assert_cmpuint(taint, ==, VB_TAINT_CUSTOM_ARGV);
    b = build_case("disk-no-format", &taint, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(taint, ==, VB_TAINT_DISK_PROBING);
    c = build_case("q35-full", &taint, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(taint, ==, 0);
}

static void
test_error_domain(void)
{
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = build_case("err-kvm-unavailable", NULL, &error);

    g_assert_null(argv);
    g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
}

/*
 * At define (vb_qemu_command_check) elements are named by the caller's lines; at start by
 * their path, as the definition then comes from the service's reformatted copy.
 */
static void
test_check_names_lines_and_paths(void)
{
    static const char xml[] = "<domain type='qemu'>\n"
                              "  <name>check</name>\n"
                              "  <memory>65536</memory>\n"
                              "  <memtune><hard_limit>1048576</hard_limit></memtune>\n"
                              "  <os><type arch='x86_64' machine='pc'>hvm</type></os>\n"
                              "  <pm><suspend-to-mem enabled='no'/></pm>\n"
                              "  <devices>\n"
                              "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
                              "    <shmem name='a'/>\n"
                              "\n"
                              "    <shmem name='b'/>\n"
                              "  </devices>\n"
                              "</domain>\n";
    VbQemuCaps *caps = test_caps_new(FALSE);
    g_autoptr(VbDomainDef) def = vb_domain_def_parse_string(xml, 0, NULL);
    g_autoptr(GPtrArray) ignored = NULL;
    g_autoptr(GError) error = NULL;
    VbQemuCommandParams params = {1, "/run/x/monitor.sock", "/run/x/qemu.pid", "/run/x", -1, FALSE};
    g_auto(GStrv) argv = NULL;

    g_assert_nonnull(def);
    g_assert_true(vb_domain_def_assign_addresses(def, NULL));
    g_assert_false(vb_qemu_command_check(def, caps, &ignored, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
    g_assert_true(g_str_has_prefix(error->message, "<shmem> at line 9: "));
    g_clear_error(&error);

    argv = vb_qemu_command_build_full(def, caps, &params, NULL, &ignored, &error);
    g_assert_null(argv);
    g_assert_true(g_str_has_prefix(error->message, "<shmem> devices/shmem[1]: "));
    g_clear_error(&error);

    /* without the devices QEMU cannot run, what is kept but not acted on is listed */
    g_ptr_array_set_size(def->priv->devices, 0);
    g_assert_true(vb_qemu_command_check(def, caps, &ignored, &error));
    g_assert_no_error(error);
    /* <memtune> is the cgroup's (issue 14, part cgroup: domain-cgroup.c lists it) */
    g_assert_cmpuint(ignored->len, ==, 1);
    g_assert_cmpstr(ignored->pdata[0], ==, "<pm> at line 6: not acted on");
    g_clear_pointer(&ignored, g_ptr_array_unref);
    argv = vb_qemu_command_build_full(def, caps, &params, NULL, &ignored, &error);
    g_assert_nonnull(argv);
    g_assert_cmpstr(ignored->pdata[0], ==, "<pm>: not acted on");
    test_caps_free(caps);
}

/* What of <cputune>, <memtune>, <numatune>, <cpu> and <vcpus> a start does not act on is
 * listed, element by element; pinning is acted on (after QEMU starts), so it is not. */
static void
test_cpu_tuning_ignored(void)
{
    g_autofree char *path = data_path("cputune-pinning", ".xml");
    g_autofree char *xml = NULL;
    g_autoptr(VbDomainDef) def = NULL;
    g_autoptr(GPtrArray) ignored = NULL;
    g_autoptr(GError) error = NULL;
    VbQemuCaps *caps = test_caps_new(FALSE);
    g_autofree char *joined = NULL;

    g_assert_true(g_file_get_contents(path, &xml, NULL, NULL));
    def = vb_domain_def_parse_string(xml, 0, &error);
    g_assert_no_error(error);
    g_assert_true(vb_domain_def_assign_addresses(def, NULL));
    g_assert_true(vb_qemu_command_check(def, caps, &ignored, &error));
    g_assert_no_error(error);
    g_ptr_array_add(ignored, NULL);
    joined = g_strjoinv("\n", (char **)ignored->pdata);
    /* shares, period and <memtune> are the cgroup's (issue 14, part cgroup) */
    g_assert_cmpstr(joined, ==,
                    "<cputune><vcpusched> at line 15: scheduler policies are not applied yet\n"
                    "<numatune><memory> at line 21: host NUMA placement is not applied");
    test_caps_free(caps);
}

static void
test_to_string(void)
{
    const char *argv[] = { "/usr/bin/qemu", "-name", "guest=a b", "-device", "{\"x\":1}",
                           NULL };
    g_autofree char *s = vb_qemu_command_to_string(argv);

    g_assert_cmpstr(s, ==, "/usr/bin/qemu -name 'guest=a b' -device '{\"x\":1}'");
}

/* the argv reader finds what a value could inject: the goldens would not fail without it */
static void
test_argv_check_finds_injection(void)
{
    static const char *const bad[][3] = {
        /* what the builder wrote before listen addresses were checked and escaped */
        { "-vnc", "127.0.0.1,to=99:0", NULL },
        { "-vnc", "tls-creds=x:0", NULL },
        { "-spice", "port=5901,addr=0.0.0.0,disable-ticketing=on,disable-ticketing=on", NULL },
        { "-spice", "port=5901,addr=::1,image-compression=off,seamless-migration=off,"
                    "seamless-migration=on", NULL },
        { "-chardev", "file,id=charserial0,path=/var/log/a,append=on,append=off", NULL },
        { "-name", "guest=a,b=c,debug-threads=on", NULL },
        { "-device", "{\"driver\":\"VGA\",\"id\":\"a\",\"id\":\"b\"}", NULL },
        { "-device", "{\"driver\":\"VGA\"},{\"x\":1}", NULL },
        { "-blockdev", "driver=file,filename=/a", NULL },
        { "-readconfig", "/etc/qemu/x.conf", NULL }, /* an option the builder never writes */
    };
    static const char *const good[][3] = {
        { "-vnc", "[::1]:1,password=on", NULL },
        { "-chardev", "file,id=charserial0,path=/var/log/a,,append=on", NULL },
        { "-name", "guest=a,,b=c,debug-threads=on", NULL },
        { "-bios", "/a,b=c", NULL },
        { "-device", "{\"driver\":\"VGA\",\"id\":\"a,b=c\\\"\"}", NULL },
    };

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        const char *argv[] = { "qemu", bad[i][0], bad[i][1], NULL };
        g_autoptr(GError) error = NULL;

        if (test_argv_check(argv, 0, &error)) {
            g_test_message("'%s %s' passed the check", bad[i][0], bad[i][1]);
            g_test_fail();
        }
    }
    for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
        const char *argv[] = { "qemu", good[i][0], good[i][1], NULL };
        g_autoptr(GError) error = NULL;

        if (!test_argv_check(argv, 0, &error)) {
            g_test_message("'%s %s': %s", good[i][0], good[i][1], error->message);
            g_test_fail();
        }
    }
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int
main(int argc, char **argv)
{
    g_autoptr(GDir) dir = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *entry;

    g_test_init(&argc, &argv, NULL);
    g_test_set_nonfatal_assertions();
    data_dir = g_build_filename(g_getenv("VB_SRCDIR"), "tests", "qemu", "xml2argv", NULL);
    dir = g_dir_open(data_dir, 0, NULL);
    g_assert_nonnull(dir);
    while ((entry = g_dir_read_name(dir)) != NULL) {
        if (g_str_has_suffix(entry, ".xml"))
            g_ptr_array_add(names, g_strndup(entry, strlen(entry) - 4));
    }
    g_ptr_array_sort(names, compare_names);
    for (guint i = 0; i < names->len; i++) {
        g_autofree char *path = g_strdup_printf("/xml2argv/%s",
                                                (char *)g_ptr_array_index(names, i));
        g_test_add_data_func(path, g_ptr_array_index(names, i), test_case);
    }
    g_test_add_func("/qemu-command/taint", test_taint);
    g_test_add_func("/qemu-command/error-domain", test_error_domain);
    g_test_add_func("/qemu-command/to-string", test_to_string);
    g_test_add_func("/qemu-command/cpu-tuning-ignored", test_cpu_tuning_ignored);
    g_test_add_func("/qemu-command/check-names-lines-and-paths",
                    test_check_names_lines_and_paths);
    g_test_add_func("/qemu-command/argv-check-finds-injection",
                    test_argv_check_finds_injection);
    return g_test_run();
}
