/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Definition edits of issue 13, part vcpuio: IOThreads added and removed
 * (vb_domain_def_with_iothread, libvirt's order and ids), which device uses an IOThread,
 * <emulatorpin>, and <perf> read and written.
 */
#include "config.h"

#include <string.h>

#include "domain-def-cpu.h"
#include "domain-def.h"
#include "vb-error.h"

#define HEAD                                                                                 \
    "<domain type='qemu'>\n"                                                                 \
    "  <name>io</name>\n"                                                                    \
    "  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n"                                  \
    "  <memory unit='KiB'>65536</memory>\n"                                                  \
    "  <vcpu placement='static'>2</vcpu>\n"

#define TAIL                                                                                 \
    "  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>\n"                       \
    "  <devices>\n"                                                                          \
    "    <disk type='file' device='disk'><driver name='qemu' type='raw' iothread='2'/>"     \
    "<source file='/a.img'/><target dev='vdb' bus='virtio'/></disk>\n"                      \
    "    <controller type='scsi' index='0' model='virtio-scsi'><driver iothread='3'/>"       \
    "</controller>\n"                                                                        \
    "  </devices>\n"                                                                         \
    "</domain>\n"

static VbDomainDef *
parse(const char *xml)
{
    g_autoptr(GError) error = NULL;
    VbDomainDef *def = vb_domain_def_parse_string(xml, 0, &error);

    g_assert_no_error(error);
    g_assert_nonnull(def);
    return def;
}

static char *
format(const VbDomainDef *def)
{
    g_autoptr(GError) error = NULL;
    char *xml = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_SECURE, &error);

    g_assert_no_error(error);
    return xml;
}

static GArray *
ids(const VbDomainDef *def)
{
    const VbDomainResources *r = vb_domain_def_get_resources(def);
    GArray *a = g_array_new(FALSE, FALSE, sizeof(guint));

    for (guint i = 0; i < r->iothreadids->len; i++)
        g_array_append_val(a, ((const VbIOThreadId *)g_ptr_array_index(r->iothreadids, i))->id);
    return a;
}

/* <iothreads>3 with one explicit id: the filled-in ids become explicit, attributes stay */
static void
test_add_and_remove(void)
{
    g_autoptr(VbDomainDef) def =
        parse(HEAD "  <iothreads>3</iothreads>\n  <iothreadids><iothread id='5' "
                   "thread_pool_max='8'/></iothreadids>\n"
                   "  <cputune><iothreadpin iothread='1' cpuset='0'/></cputune>\n" TAIL);
    g_autoptr(VbDomainDef) added = NULL;
    g_autoptr(VbDomainDef) removed = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GArray) a = NULL;
    g_autofree char *xml = NULL;

    a = ids(def);
    g_assert_cmpuint(a->len, ==, 3);
    added = vb_domain_def_with_iothread(def, 7, TRUE, &error);
    g_assert_no_error(error);
    xml = format(added);
    g_assert_nonnull(strstr(xml, "<iothreads>4</iothreads>"));
    g_assert_nonnull(strstr(xml, "<iothread id='5' thread_pool_max='8'/>"));
    g_assert_nonnull(strstr(xml, "<iothread id='1'/>"));
    g_assert_nonnull(strstr(xml, "<iothread id='2'/>"));
    g_assert_nonnull(strstr(xml, "<iothread id='7'/>"));
    g_clear_pointer(&a, g_array_unref);
    a = ids(added);
    g_assert_cmpuint(a->len, ==, 4);
    /* removing 1 drops its <iothreadpin> and the empty <cputune> */
    removed = vb_domain_def_with_iothread(added, 1, FALSE, &error);
    g_assert_no_error(error);
    g_clear_pointer(&xml, g_free);
    xml = format(removed);
    g_assert_nonnull(strstr(xml, "<iothreads>3</iothreads>"));
    g_assert_null(strstr(xml, "<iothread id='1'/>"));
    g_assert_null(strstr(xml, "cputune"));
    /* and the edit is a fixed point of the round trip */
    {
        g_autoptr(VbDomainDef) again = parse(xml);
        g_autofree char *xml2 = format(again);

        g_assert_cmpstr(xml, ==, xml2);
    }
}

static void
test_errors(void)
{
    g_autoptr(VbDomainDef) def = parse(HEAD "  <iothreads>1</iothreads>\n" TAIL);
    g_autoptr(VbDomainDef) none = NULL;
    g_autoptr(VbDomainDef) last = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = NULL;

    g_assert_null(vb_domain_def_with_iothread(def, 0, TRUE, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_clear_error(&error);
    g_assert_null(vb_domain_def_with_iothread(def, 1, TRUE, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_EXISTS);
    g_assert_nonnull(strstr(error->message, "already using iothread_id '1'"));
    g_clear_error(&error);
    g_assert_null(vb_domain_def_with_iothread(def, 4, FALSE, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_clear_error(&error);
    /* the last one goes: no <iothreads>, no <iothreadids> */
    last = vb_domain_def_with_iothread(def, 1, FALSE, &error);
    g_assert_no_error(error);
    xml = format(last);
    g_assert_null(strstr(xml, "<iothreads"));
    g_assert_null(strstr(xml, "<iothreadids"));
    /* none at all: the first is added after <vcpu> */
    none = vb_domain_def_with_iothread(last, 2, TRUE, &error);
    g_assert_no_error(error);
    g_clear_pointer(&xml, g_free);
    xml = format(none);
    g_assert_nonnull(strstr(xml, "</vcpu>\n  <iothreads>1</iothreads>\n  <iothreadids>"));
}

static void
test_users(void)
{
    g_autoptr(VbDomainDef) def = parse(HEAD "  <iothreads>3</iothreads>\n" TAIL);
    g_autofree char *disk = vb_domain_def_iothread_user(def, 2);
    g_autofree char *ctl = vb_domain_def_iothread_user(def, 3);
    g_autofree char *none = vb_domain_def_iothread_user(def, 1);

    g_assert_cmpstr(disk, ==, "disk 'vdb'");
    g_assert_cmpstr(ctl, ==, "controller 'scsi' index 0");
    g_assert_null(none);
}

static void
test_emulatorpin(void)
{
    g_autoptr(VbDomainDef) def =
        parse(HEAD "  <cputune><vcpupin vcpu='0' cpuset='1'/><iothreadpin iothread='1' "
                   "cpuset='0'/></cputune>\n  <iothreads>1</iothreads>\n" TAIL);
    g_autoptr(VbDomainDef) pinned = NULL;
    g_autoptr(VbDomainDef) unpinned = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = NULL;
    const VbDomainResources *r;
    gboolean found = FALSE;

    pinned = vb_domain_def_with_pin(def, VB_PIN_EMULATOR, 0, "0-1", &error);
    g_assert_no_error(error);
    xml = format(pinned);
    /* libvirt's order: vcpupin, emulatorpin, iothreadpin */
    g_assert_nonnull(strstr(xml, "<emulatorpin cpuset='0-1'/>"));
    g_assert_true(strstr(xml, "<vcpupin") < strstr(xml, "<emulatorpin"));
    g_assert_true(strstr(xml, "<emulatorpin") < strstr(xml, "<iothreadpin"));
    r = vb_domain_def_get_resources(pinned);
    for (guint i = 0; i < r->pins->len; i++)
        found |= ((const VbPin *)g_ptr_array_index(r->pins, i))->kind == VB_PIN_EMULATOR;
    g_assert_true(found);
    unpinned = vb_domain_def_with_pin(pinned, VB_PIN_EMULATOR, 0, NULL, &error);
    g_assert_no_error(error);
    g_clear_pointer(&xml, g_free);
    xml = format(unpinned);
    g_assert_null(strstr(xml, "emulatorpin"));
    g_assert_nonnull(strstr(xml, "<vcpupin vcpu='0' cpuset='1'/>"));
}

static void
test_perf(void)
{
    g_autoptr(VbDomainDef) def =
        parse(HEAD TAIL);
    g_autoptr(VbDomainDef) on = NULL;
    g_autoptr(VbDomainDef) off = NULL;
    g_autoptr(GHashTable) want = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GHashTable) got = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = NULL;

    got = vb_domain_def_get_perf(def);
    g_assert_cmpuint(g_hash_table_size(got), ==, 0);
    g_hash_table_insert(want, (gpointer) "task_clock", GINT_TO_POINTER(TRUE));
    on = vb_domain_def_with_perf(def, want, &error);
    g_assert_no_error(error);
    xml = format(on);
    /* after <on_crash> (libvirt's order), before <devices> */
    g_assert_nonnull(strstr(xml, "<event name='task_clock' enabled='yes'/>"));
    g_assert_true(strstr(xml, "<perf>") < strstr(xml, "<devices>"));
    g_assert_true(strstr(xml, "<on_crash>") < strstr(xml, "<perf>"));
    g_hash_table_insert(want, (gpointer) "task_clock", GINT_TO_POINTER(FALSE));
    off = vb_domain_def_with_perf(on, want, &error);
    g_assert_no_error(error);
    g_clear_pointer(&got, g_hash_table_unref);
    got = vb_domain_def_get_perf(off);
    g_assert_true(g_hash_table_contains(got, "task_clock"));
    g_assert_false(GPOINTER_TO_INT(g_hash_table_lookup(got, "task_clock")));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/conf/vcpuio/iothread-add-remove", test_add_and_remove);
    g_test_add_func("/conf/vcpuio/iothread-errors", test_errors);
    g_test_add_func("/conf/vcpuio/iothread-users", test_users);
    g_test_add_func("/conf/vcpuio/emulatorpin", test_emulatorpin);
    g_test_add_func("/conf/vcpuio/perf", test_perf);
    return g_test_run();
}
