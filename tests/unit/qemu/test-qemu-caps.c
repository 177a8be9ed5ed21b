/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QEMU capabilities: probing the real qemu-system-x86_64 (skipped when it
 * is not installed), the memory and disk caches, invalidation when the
 * binary changes, the XML round trip, and the KVM probe's QEMU ending with
 * a prober killed in the middle.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>

#include "qemu-caps.h"
#include "vb-error.h"

static char *binary;
static char *tmpdir;

static gboolean
need_qemu(void)
{
    if (binary == NULL)
        g_test_skip("qemu-system-x86_64 is not installed");
    return binary != NULL;
}

static void
assert_x86_caps(const VbQemuCaps *caps)
{
    const VbQemuMachine *q35;
    const VbQemuMachine *def;

    g_assert_cmpstr(caps->arch, ==, "x86_64");
    g_assert_true(caps->tcg_available);
    g_assert_cmpuint(caps->version, >=, 7000000);
    q35 = vb_qemu_caps_find_machine(caps, "q35");
    g_assert_nonnull(q35);
    g_assert_true(g_str_has_prefix(q35->name, "pc-q35-"));
    g_assert_cmpuint(q35->max_cpus, >=, 255);
    g_assert_true(vb_qemu_caps_find_machine(caps, q35->name) == q35);
    def = vb_qemu_caps_find_machine(caps, NULL);
    g_assert_nonnull(def);
    g_assert_true(def->is_default);
    g_assert_null(vb_qemu_caps_find_machine(caps, "no-such-machine"));
    g_assert_true(vb_qemu_caps_has_device(caps, "virtio-net-pci"));
    g_assert_false(vb_qemu_caps_has_device(caps, "no-such-device"));
    /* -audiodev help: every build has the built-in none and wav drivers; the names are
     * QEMU's (pa, not pulseaudio) */
    g_assert_true(g_hash_table_contains(caps->audiodevs, "none"));
    g_assert_true(g_hash_table_contains(caps->audiodevs, "wav"));
    g_assert_false(g_hash_table_contains(caps->audiodevs, "pulseaudio"));
    g_assert_true(vb_qemu_caps_has_command(caps, "cont"));
    g_assert_true(vb_qemu_caps_has_command(caps, "query-status"));
    /* every feature flag QEMU knows, on or off under TCG; not the other properties, not
     * libvirt's names QEMU 7.2 dropped (Icelake-Server's 'pconfig') */
    g_assert_true(g_hash_table_contains(caps->cpu_features, "sse2"));
    g_assert_true(g_hash_table_contains(caps->cpu_features, "vmx"));
    g_assert_false(g_hash_table_contains(caps->tcg_cpu_features, "vmx"));
    g_assert_false(g_hash_table_contains(caps->cpu_features, "model-id"));
    g_assert_false(g_hash_table_contains(caps->cpu_features, "pconfig"));
    /* QEMU 7.2 has no query-events: the set is filled only where it exists. */
    if (vb_qemu_caps_has_command(caps, "query-events"))
        g_assert_true(vb_qemu_caps_has_event(caps, "SHUTDOWN"));
    else
        g_assert_cmpuint(g_hash_table_size(caps->events), ==, 0);
}

static void
test_probe_and_cache(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VbQemuCaps) caps = NULL;
    g_autoptr(VbQemuCaps) again = NULL;
    g_autoptr(VbQemuCaps) from_disk = NULL;
    g_autofree char *cache_dir = g_build_filename(tmpdir, "cache", NULL);
    g_autofree char *file = g_build_filename(cache_dir, "qemu-system-x86_64.xml", NULL);
    guint probes;
    gint64 t0;

    if (!need_qemu())
        return;
    g_assert_no_errno(g_mkdir(cache_dir, 0700));
    probes = vb_qemu_caps_probe_count();
    t0 = g_get_monotonic_time();
    caps = vb_qemu_caps_get(binary, cache_dir, &error);
    g_assert_no_error(error);
    g_test_message("probing %s took %.1f ms", binary, (g_get_monotonic_time() - t0) / 1000.0);
    g_assert_cmpuint(vb_qemu_caps_probe_count(), ==, probes + 1);
    assert_x86_caps(caps);
    g_assert_true(g_file_test(file, G_FILE_TEST_IS_REGULAR));

    /* Memory cache: the same object, no new probe. */
    t0 = g_get_monotonic_time();
    again = vb_qemu_caps_get(binary, cache_dir, &error);
    g_assert_no_error(error);
    g_assert_true(again == caps);
    g_assert_cmpuint(vb_qemu_caps_probe_count(), ==, probes + 1);
    g_test_message("cached get took %.3f ms", (g_get_monotonic_time() - t0) / 1000.0);

    /* Disk cache (as after a restart): parse the file, equal to the probe. */
    {
        g_autofree char *xml = NULL;
        g_autofree char *xml2 = NULL;
        g_autofree char *xml3 = NULL;

        g_assert_true(g_file_get_contents(file, &xml, NULL, NULL));
        from_disk = vb_qemu_caps_from_xml(xml, &error);
        g_assert_no_error(error);
        xml2 = vb_qemu_caps_to_xml(from_disk);
        xml3 = vb_qemu_caps_to_xml(caps);
        g_assert_cmpstr(xml2, ==, xml3);
    }
}

static void
test_invalidation(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VbQemuCaps) first = NULL;
    g_autoptr(VbQemuCaps) second = NULL;
    g_autoptr(VbQemuCaps) third = NULL;
    g_autofree char *bindir = g_build_filename(tmpdir, "bin", NULL);
    g_autofree char *copy = g_build_filename(bindir, "qemu-system-x86_64", NULL);
    g_autofree char *libdir = g_build_filename(tmpdir, "lib", NULL);
    g_autofree char *real = g_canonicalize_filename(binary, NULL);
    g_autofree char *prefix = g_path_get_dirname(real);
    g_autofree char *real_lib = NULL;
    g_autofree char *cache_dir = g_build_filename(tmpdir, "cache2", NULL);
    g_autofree char *contents = NULL;
    struct utimbuf old = { .actime = 1000000000, .modtime = 1000000000 };
    gsize len;
    guint probes;

    if (!need_qemu())
        return;
    g_assert_no_errno(g_mkdir(cache_dir, 0700));
    /* QEMU finds its modules relative to its own path (PREFIX/bin/../lib/...). */
    g_assert_no_errno(g_mkdir(bindir, 0700));
    real_lib = g_build_filename(prefix, "..", "lib", NULL);
    g_assert_no_errno(symlink(real_lib, libdir));
    g_assert_true(g_file_get_contents(binary, &contents, &len, NULL));
    g_assert_true(g_file_set_contents(copy, contents, len, NULL));
    g_assert_no_errno(g_chmod(copy, 0755));
    g_assert_no_errno(utime(copy, &old));

    probes = vb_qemu_caps_probe_count();
    first = vb_qemu_caps_get(copy, cache_dir, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(first->binary, ==, copy);
    g_assert_cmpint(first->mtime, ==, 1000000000);
    second = vb_qemu_caps_get(copy, cache_dir, &error);
    g_assert_true(second == first);
    g_assert_cmpuint(vb_qemu_caps_probe_count(), ==, probes + 1);

    /* "touch": a new mtime means a new binary. */
    g_assert_no_errno(utime(copy, NULL));
    third = vb_qemu_caps_get(copy, cache_dir, &error);
    g_assert_no_error(error);
    g_assert_true(third != first);
    g_assert_cmpint(third->mtime, >, 1000000000);
    g_assert_cmpuint(vb_qemu_caps_probe_count(), ==, probes + 2);
    assert_x86_caps(third);
    g_unlink(copy);
}

static void
rm_rf(const char *path)
{
    g_autoptr(GDir) d = g_file_test(path, G_FILE_TEST_IS_SYMLINK) ? NULL
                                                                  : g_dir_open(path, 0, NULL);
    const char *name;

    while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
        g_autofree char *child = g_build_filename(path, name, NULL);

        rm_rf(child);
    }
    g_remove(path);
}

static void
test_xml_roundtrip(void)
{
    g_autoptr(VbQemuCaps) caps = vb_qemu_caps_new();
    g_autoptr(VbQemuCaps) back = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *xml2 = NULL;
    VbQemuMachine *m = g_new0(VbQemuMachine, 1);
    const VbQemuMachine *found;

    caps->binary = g_strdup("/opt/q&a/qemu-system-x86_64");
    caps->size = 123456789012;
    caps->mtime = 1700000000;
    caps->arch = g_strdup("x86_64");
    caps->version = 7002022;
    caps->package = g_strdup("Debian <1:7.2>");
    caps->kvm_available = TRUE;
    caps->tcg_available = TRUE;
    m->name = g_strdup("pc-q35-7.2");
    m->alias = g_strdup("q35");
    m->max_cpus = 288;
    m->deprecated = TRUE;
    g_ptr_array_add(caps->machines, m);
    m = g_new0(VbQemuMachine, 1);
    m->name = g_strdup("pc-i440fx-7.2");
    m->is_default = TRUE;
    g_ptr_array_add(caps->machines, m);
    g_hash_table_add(caps->commands, g_strdup("cont"));
    g_hash_table_add(caps->commands, g_strdup("stop"));
    g_hash_table_add(caps->events, g_strdup("STOP"));
    g_hash_table_add(caps->devices, g_strdup("virtio-net-pci"));
    g_hash_table_add(caps->devices, g_strdup("e1000'quote"));
    g_hash_table_add(caps->cpu_features, g_strdup("vmx"));

    xml = vb_qemu_caps_to_xml(caps);
    back = vb_qemu_caps_from_xml(xml, &error);
    g_assert_no_error(error);
    xml2 = vb_qemu_caps_to_xml(back);
    g_assert_cmpstr(xml, ==, xml2);
    g_assert_cmpstr(back->binary, ==, caps->binary);
    g_assert_cmpint(back->size, ==, caps->size);
    g_assert_cmpint(back->mtime, ==, caps->mtime);
    g_assert_cmpstr(back->package, ==, caps->package);
    g_assert_cmpuint(back->version, ==, 7002022);
    g_assert_true(back->kvm_available);
    g_assert_true(back->tcg_available);
    found = vb_qemu_caps_find_machine(back, "q35");
    g_assert_nonnull(found);
    g_assert_cmpstr(found->name, ==, "pc-q35-7.2");
    g_assert_cmpuint(found->max_cpus, ==, 288);
    g_assert_true(found->deprecated);
    g_assert_cmpstr(vb_qemu_caps_find_machine(back, NULL)->name, ==, "pc-i440fx-7.2");
    g_assert_true(vb_qemu_caps_has_device(back, "e1000'quote"));
    g_assert_true(vb_qemu_caps_has_command(back, "stop"));
    g_assert_true(vb_qemu_caps_has_event(back, "STOP"));
    g_assert_true(g_hash_table_contains(back->cpu_features, "vmx"));

    g_assert_null(vb_qemu_caps_from_xml("<qemuCaps/>", &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_XML);
    g_clear_error(&error);
    g_assert_null(vb_qemu_caps_from_xml("not xml", &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_XML);
}

static void
test_host_xml(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *cache_dir = g_build_filename(tmpdir, "cache3", NULL);
    g_autofree char *xml = NULL;
    g_autofree char *emulator = NULL;
    g_autoptr(GPtrArray) bins = vb_qemu_caps_find_binaries();
    gint64 t0;

    if (!need_qemu())
        return;
    g_assert_no_errno(g_mkdir(cache_dir, 0700));
    t0 = g_get_monotonic_time();
    xml = vb_qemu_caps_host_xml("0e1f2a3b-0000-4000-8000-000000000001", cache_dir, &error);
    g_assert_no_error(error);
    g_test_message("host capabilities (%u binaries on PATH) took %.1f ms",
                   bins->len, (g_get_monotonic_time() - t0) / 1000.0);
    emulator = g_strdup_printf("<emulator>%s</emulator>", binary);
    g_assert_nonnull(strstr(xml, "<uuid>0e1f2a3b-0000-4000-8000-000000000001</uuid>"));
    g_assert_nonnull(strstr(xml, "<arch name='x86_64'>\n      <wordsize>64</wordsize>\n"));
    g_assert_nonnull(strstr(xml, emulator));
    g_assert_nonnull(strstr(xml, "<machine canonical='pc-q35-"));
    g_assert_nonnull(strstr(xml, ">q35</machine>"));
    g_assert_nonnull(strstr(xml, "<domain type='qemu'/>"));
}

/* The state letter of @pid ('\0' when gone) and its parent. */
static char
proc_state(pid_t pid, pid_t *ppid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;
    const char *p;
    char state = 0;
    int parent = 0;

    if (!g_file_get_contents(path, &text, NULL, NULL) || (p = strrchr(text, ')')) == NULL ||
        sscanf(p + 1, " %c %d", &state, &parent) != 2)
        return 0;
    if (ppid != NULL)
        *ppid = parent;
    return state;
}

/* A child of @parent whose command line holds @needle, or 0. */
static pid_t
child_with(pid_t parent, const char *needle)
{
    g_autoptr(GDir) dir = g_dir_open("/proc", 0, NULL);
    const char *name;

    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
        pid_t pid = (pid_t)g_ascii_strtoll(name, NULL, 10), ppid = 0;
        g_autofree char *path = NULL, *cmdline = NULL;
        gsize len = 0;

        if (pid <= 0 || proc_state(pid, &ppid) == 0 || ppid != parent)
            continue;
        path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
        if (!g_file_get_contents(path, &cmdline, &len, NULL))
            continue;
        for (gsize i = 0; i + 1 < len; i++)
            if (cmdline[i] == '\0')
                cmdline[i] = ' ';
        if (strstr(cmdline, needle) != NULL)
            return pid;
    }
    return 0;
}

/*
 * The KVM probe boots a guest under KVM for up to two seconds (qemu-kvm-probe.c). A service
 * killed meanwhile (here: a child process that probes) must not leave that QEMU running: on
 * a host where KVM runs no guest it never ends by itself (a kill9-sweep run left one behind
 * for an hour before this test).
 */
static void
test_kvm_probe_dies_with_prober(void)
{
    pid_t prober, qemu = 0;
    gint64 deadline;
    int status;

    if (!need_qemu())
        return;
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        g_test_skip("no usable /dev/kvm: the KVM probe does not run");
        return;
    }
    prober = fork();
    g_assert_cmpint(prober, >=, 0);
    if (prober == 0) {
        vb_qemu_kvm_usable(binary, NULL);
        _exit(0);
    }
    deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while ((qemu = child_with(prober, "vb-kvm-probe")) == 0 &&
           waitpid(prober, &status, WNOHANG) == 0 && g_get_monotonic_time() < deadline)
        g_usleep(2000);
    if (qemu == 0) {
        /* KVM ran the probe's guest at once (or the probe never started): nothing to kill */
        kill(prober, SIGKILL);
        waitpid(prober, &status, 0);
        g_test_skip("the KVM probe ended before it could be interrupted");
        return;
    }
    g_assert_cmpint(kill(prober, SIGKILL), ==, 0);
    g_assert_cmpint(waitpid(prober, &status, 0), ==, prober);
    deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (proc_state(qemu, NULL) != 0 && proc_state(qemu, NULL) != 'Z' &&
           g_get_monotonic_time() < deadline)
        g_usleep(10 * 1000);
    if (proc_state(qemu, NULL) != 0 && proc_state(qemu, NULL) != 'Z') {
        kill(qemu, SIGKILL);
        g_error("the KVM probe's QEMU (pid %d) outlived its prober", (int)qemu);
    }
}

int
main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    binary = g_find_program_in_path("qemu-system-x86_64");
    tmpdir = g_dir_make_tmp("vb-test-caps-XXXXXX", NULL);
    /* first: the probe's answer is kept for the life of the process, and a prober forked
     * after another test's probe would find it there */
    g_test_add_func("/qemu/caps/kvm-probe-dies-with-prober", test_kvm_probe_dies_with_prober);
    g_test_add_func("/qemu/caps/xml-roundtrip", test_xml_roundtrip);
    g_test_add_func("/qemu/caps/probe-and-cache", test_probe_and_cache);
    g_test_add_func("/qemu/caps/invalidation", test_invalidation);
    g_test_add_func("/qemu/caps/host-xml", test_host_xml);
    ret = g_test_run();
    rm_rf(tmpdir);
    return ret;
}
