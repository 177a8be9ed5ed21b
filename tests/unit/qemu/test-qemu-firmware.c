/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Firmware selection from QEMU's firmware descriptors and NVRAM files made from templates
 * (service/qemu/qemu-firmware.c; issue 10, part helpers). The descriptors are written to a
 * temporary directory in the shape of Debian's ovmf package.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "qemu-helpers.h"
#include "vb-error.h"

static const char *const caps_xml =
    "<qemuCaps binary='/usr/bin/qemu-system-x86_64' size='1' mtime='1'>\n  <arch>x86_64</arch>\n"
    "  <machine name='pc-i440fx-7.2' alias='pc' default='yes' maxCpus='255' "
    "deprecated='no'/>\n  <machine name='pc-q35-7.2' alias='q35' default='no' "
    "maxCpus='288' deprecated='no'/>\n</qemuCaps>\n";

typedef struct {
    char *dir;
    char *etc;
    char *share;
    char *vars;
    VbQemuCaps *caps;
} Fixture;

static void
write_descriptor(const char *dir, const char *name, const char *code, const char *vars,
                 const char *features, const char *machines)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autofree char *json = g_strdup_printf(
        "{\"interface-types\": [\"uefi\"], \"mapping\": {\"device\": \"flash\", "
        "\"executable\": {\"filename\": \"%s\", \"format\": \"raw\"}, "
        "\"nvram-template\": {\"filename\": \"%s\", \"format\": \"raw\"}}, "
        "\"targets\": [{\"architecture\": \"x86_64\", \"machines\": [%s]}], "
        "\"features\": [%s], \"tags\": []}",
        code, vars, machines, features);

    g_assert_true(g_file_set_contents(path, json, -1, NULL));
}

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    const char *dirs[3];

    f->dir = g_dir_make_tmp("vb-fw-XXXXXX", &error);
    g_assert_no_error(error);
    f->etc = g_build_filename(f->dir, "etc", NULL);
    f->share = g_build_filename(f->dir, "share", NULL);
    g_mkdir(f->etc, 0700);
    g_mkdir(f->share, 0700);
    f->vars = g_build_filename(f->dir, "VARS.fd", NULL);
    g_assert_true(g_file_set_contents(f->vars, "template-bytes", -1, NULL));
    write_descriptor(f->share, "40-enrolled.json", "/fw/CODE.ms.fd", "/fw/VARS.ms.fd",
                     "\"requires-smm\", \"secure-boot\", \"enrolled-keys\"", "\"pc-q35-*\"");
    write_descriptor(f->share, "50-secure.json", "/fw/CODE.secboot.fd", "/fw/VARS.fd",
                     "\"requires-smm\", \"secure-boot\"", "\"pc-q35-*\"");
    write_descriptor(f->share, "60-plain.json", "/fw/CODE.fd", f->vars, "\"acpi-s3\"",
                     "\"pc-i440fx-*\", \"pc-q35-*\"");
    dirs[0] = f->etc;
    dirs[1] = f->share;
    dirs[2] = NULL;
    vb_qemu_firmware_set_search_dirs(dirs);
    f->caps = vb_qemu_caps_from_xml(caps_xml, &error);
    g_assert_no_error(error);
}

static void
remove_all(const char *path)
{
    g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
    const char *e;

    while (d != NULL && (e = g_dir_read_name(d)) != NULL) {
        g_autofree char *p = g_build_filename(path, e, NULL);

        if (g_file_test(p, G_FILE_TEST_IS_DIR))
            remove_all(p);
        else
            g_unlink(p);
    }
    g_rmdir(path);
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
    vb_qemu_firmware_set_search_dirs(NULL);
    remove_all(f->dir);
    g_free(f->dir);
    g_free(f->etc);
    g_free(f->share);
    g_free(f->vars);
    vb_qemu_caps_unref(f->caps);
}

static VbDomainDef *
def_of(const char *machine, const char *os_attrs, const char *os_children,
       const char *features)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = g_strdup_printf(
        "<domain type='qemu'><name>fw</name><memory>65536</memory>"
        "<os %s><type arch='x86_64' machine='%s'>hvm</type>%s</os>%s"
        "<devices/></domain>",
        os_attrs, machine, os_children, features);
    VbDomainDef *def = vb_domain_def_parse_string(xml, 0, &error);

    g_assert_no_error(error);
    return def;
}

static VbDomainDef *
fill(Fixture *f, VbDomainDef *def, GError **error)
{
    return vb_qemu_firmware_fill(def, f->caps, "/nv/fw_VARS.fd", error);
}

static void
test_secure_boot_enrolled(Fixture *f, gconstpointer data)
{
    g_autoptr(VbDomainDef) def = def_of(
        "q35", "firmware='efi'",
        "<firmware><feature enabled='yes' name='secure-boot'/>"
        "<feature enabled='yes' name='enrolled-keys'/></firmware>", "");
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDomainDef) out = fill(f, def, &error);
    g_auto(VbDomainFirmware) fw = { 0 };

    g_assert_no_error(error);
    g_assert_nonnull(out);
    vb_domain_def_get_firmware(out, &fw);
    g_assert_null(fw.firmware); /* resolved: the live definition has no firmware= */
    g_assert_cmpstr(fw.loader_path, ==, "/fw/CODE.ms.fd");
    g_assert_cmpstr(fw.loader_type, ==, "pflash");
    g_assert_true(fw.loader_readonly);
    g_assert_cmpint(fw.loader_secure, ==, 1);
    g_assert_cmpint(fw.smm, ==, 1);
    g_assert_cmpstr(fw.nvram_template, ==, "/fw/VARS.ms.fd");
    g_assert_cmpstr(fw.nvram_path, ==, "/nv/fw_VARS.fd");
}

static void
test_secure_boot_refused_picks_plain(Fixture *f, gconstpointer data)
{
    g_autoptr(VbDomainDef) def = def_of(
        "q35", "firmware='efi'",
        "<firmware><feature enabled='no' name='secure-boot'/></firmware>", "");
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDomainDef) out = fill(f, def, &error);
    g_auto(VbDomainFirmware) fw = { 0 };

    g_assert_no_error(error);
    vb_domain_def_get_firmware(out, &fw);
    g_assert_cmpstr(fw.loader_path, ==, "/fw/CODE.fd");
    g_assert_cmpint(fw.loader_secure, ==, -1);
    g_assert_cmpint(fw.smm, ==, -1);
}

static void
test_no_match_is_named(Fixture *f, gconstpointer data)
{
    g_autoptr(VbDomainDef) def = def_of(
        "pc", "firmware='efi'",
        "<firmware><feature enabled='yes' name='secure-boot'/></firmware>", "");
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDomainDef) out = fill(f, def, &error);

    g_assert_null(out);
    g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
    g_assert_nonnull(strstr(error->message, "pc-i440fx-7.2"));
    g_assert_nonnull(strstr(error->message, "secure-boot"));
}

static void
test_smm_off_excludes_smm_firmware(Fixture *f, gconstpointer data)
{
    g_autoptr(VbDomainDef) def = def_of("q35", "firmware='efi'", "",
                                        "<features><smm state='off'/></features>");
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDomainDef) out = fill(f, def, &error);
    g_auto(VbDomainFirmware) fw = { 0 };

    g_assert_no_error(error);
    vb_domain_def_get_firmware(out, &fw);
    g_assert_cmpstr(fw.loader_path, ==, "/fw/CODE.fd");
}

static void
test_etc_hides_share(Fixture *f, gconstpointer data)
{
    g_autoptr(VbDomainDef) def = def_of(
        "q35", "firmware='efi'",
        "<firmware><feature enabled='yes' name='enrolled-keys'/></firmware>", "");
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDomainDef) out = NULL;
    g_autofree char *hide = g_build_filename(f->etc, "40-enrolled.json", NULL);

    /* an admin's empty file of the same name disables the packaged descriptor */
    g_assert_true(g_file_set_contents(hide, "", -1, NULL));
    out = fill(f, def, &error);
    g_assert_null(out);
    g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
}

static void
test_old_style_loader_gets_template(Fixture *f, gconstpointer data)
{
    g_autoptr(VbDomainDef) def = def_of(
        "pc", "", "<loader readonly='yes' type='pflash'>/fw/CODE.fd</loader>", "");
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDomainDef) out = fill(f, def, &error);
    g_auto(VbDomainFirmware) fw = { 0 };

    g_assert_no_error(error);
    g_assert_nonnull(out);
    vb_domain_def_get_firmware(out, &fw);
    g_assert_cmpstr(fw.nvram_template, ==, f->vars);
    g_assert_cmpstr(fw.nvram_path, ==, "/nv/fw_VARS.fd");
}

static void
test_nvram_made_once(Fixture *f, gconstpointer data)
{
    g_autofree char *nvram = g_build_filename(f->dir, "nvram", "fw_VARS.fd", NULL);
    g_autofree char *os = g_strdup_printf(
        "<loader readonly='yes' type='pflash'>/fw/CODE.fd</loader>"
        "<nvram template='%s'>%s</nvram>", f->vars, nvram);
    g_autoptr(VbDomainDef) def = def_of("pc", "", os, "");
    g_autoptr(GError) error = NULL;
    g_autofree char *data1 = NULL;
    gboolean created = FALSE;
    GStatBuf st;

    g_assert_true(vb_qemu_firmware_prepare_nvram(def, FALSE, &created, &error));
    g_assert_no_error(error);
    g_assert_true(created);
    g_assert_true(g_file_get_contents(nvram, &data1, NULL, NULL));
    g_assert_cmpstr(data1, ==, "template-bytes");
    g_assert_cmpint(g_stat(nvram, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
    /* the guest's variables are never overwritten by a later start */
    g_assert_true(g_file_set_contents(nvram, "guest-variables", -1, NULL));
    g_assert_true(vb_qemu_firmware_prepare_nvram(def, FALSE, &created, &error));
    g_assert_false(created);
    g_clear_pointer(&data1, g_free);
    g_assert_true(g_file_get_contents(nvram, &data1, NULL, NULL));
    g_assert_cmpstr(data1, ==, "guest-variables");
    /* RESET_NVRAM makes it again */
    g_assert_true(vb_qemu_firmware_prepare_nvram(def, TRUE, &created, &error));
    g_assert_true(created);
    g_clear_pointer(&data1, g_free);
    g_assert_true(g_file_get_contents(nvram, &data1, NULL, NULL));
    g_assert_cmpstr(data1, ==, "template-bytes");
}

static void
test_nvram_without_template_fails(Fixture *f, gconstpointer data)
{
    g_autoptr(VbDomainDef) def = def_of(
        "pc", "", "<loader readonly='yes' type='pflash'>/fw/CODE.fd</loader>"
                  "<nvram>/nonexistent/dir/x_VARS.fd</nvram>", "");
    g_autoptr(GError) error = NULL;

    g_assert_false(vb_qemu_firmware_prepare_nvram(def, FALSE, NULL, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
    g_assert_nonnull(strstr(error->message, "no template"));
}

static void
test_default_nvram_path(Fixture *f, gconstpointer data)
{
    g_autoptr(VbDomainDef) def = def_of(
        "pc", "", "<loader readonly='yes' type='pflash'>/fw/CODE.fd</loader>", "");
    g_autoptr(VbDomainDef) rom = def_of("pc", "", "<loader type='rom'>/fw/bios.bin</loader>",
                                        "");
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDomainDef) out = vb_qemu_firmware_default_nvram(def, "/nv/fw_VARS.fd", &error);
    g_autoptr(VbDomainDef) none = vb_qemu_firmware_default_nvram(rom, "/nv/x", &error);
    g_autofree char *xml = NULL;

    g_assert_no_error(error);
    g_assert_null(none);
    g_assert_nonnull(out);
    xml = vb_domain_def_format(out, 0, &error);
    g_assert_nonnull(strstr(xml, "<nvram>/nv/fw_VARS.fd</nvram>"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) g_test_add("/qemu/firmware/" name, Fixture, NULL, fixture_set_up, fn, \
                                 fixture_tear_down)
    ADD("secure-boot-enrolled-keys", test_secure_boot_enrolled);
    ADD("secure-boot-refused-picks-plain", test_secure_boot_refused_picks_plain);
    ADD("no-match-is-named", test_no_match_is_named);
    ADD("smm-off-excludes-smm-firmware", test_smm_off_excludes_smm_firmware);
    ADD("etc-hides-share", test_etc_hides_share);
    ADD("old-style-loader-gets-template", test_old_style_loader_gets_template);
    ADD("nvram-made-once", test_nvram_made_once);
    ADD("nvram-without-template-fails", test_nvram_without_template_fails);
    ADD("default-nvram-path", test_default_nvram_path);
    return g_test_run();
}
