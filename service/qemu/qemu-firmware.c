/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Firmware selection and NVRAM files (issue 10, part helpers), as libvirt 9.0 does
 * (qemu_firmware.c, qemuPrepareNVRAM):
 *
 * - <os firmware='efi'> is resolved at each start from QEMU's firmware descriptors
 *   (/etc/qemu/firmware/\*.json overriding /usr/share/qemu/firmware/\*.json of the same
 *   name, taken in file-name order): the first "uefi" flash descriptor for the machine type
 *   and architecture that has what <firmware><feature> asks (secure-boot, enrolled-keys) and
 *   a separate NVRAM template. The live definition gets the loader, the NVRAM template and
 *   path, <smm state='on'/> and secure='yes' when the firmware requires SMM; the persistent
 *   one keeps firmware='efi'.
 * - A read-only pflash loader with an NVRAM path but no template (old style) takes the
 *   template of the descriptor whose executable is that loader.
 * - The NVRAM file is made from its template on the first start, atomically (temporary
 *   file, fsync, rename: a kill never leaves half a file), and never overwritten after.
 */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "qemu-helpers.h"
#include "store.h"
#include "vb-error.h"

static const char *const default_dirs[] = { "/etc/qemu/firmware", "/usr/share/qemu/firmware",
                                            NULL };
static char **search_dirs; /* test override */

/* Test hook: the descriptor directories, in priority order (NULL: the system's). */
void
vb_qemu_firmware_set_search_dirs(const char *const *dirs)
{
    g_strfreev(search_dirs);
    search_dirs = dirs != NULL ? g_strdupv((char **)dirs) : NULL;
}

typedef struct {
    char *path;
    char *executable;
    char *nvram_template;
    gboolean uefi;
    gboolean flash;
    gboolean secure_boot;
    gboolean enrolled_keys;
    gboolean requires_smm;
    GPtrArray *targets; /* char*: "arch\tmachine-glob" */
} Descriptor;

static void
descriptor_free(Descriptor *d)
{
    g_free(d->path);
    g_free(d->executable);
    g_free(d->nvram_template);
    g_clear_pointer(&d->targets, g_ptr_array_unref);
    g_free(d);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Descriptor, descriptor_free)

static const char *
str_member(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    return n != NULL && JSON_NODE_HOLDS_VALUE(n) &&
                   json_node_get_value_type(n) == G_TYPE_STRING
               ? json_node_get_string(n) : NULL;
}

static JsonObject *
obj_member(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    return n != NULL && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static JsonArray *
arr_member(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    return n != NULL && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

static gboolean
has_string(JsonArray *a, const char *s)
{
    for (guint i = 0; a != NULL && i < json_array_get_length(a); i++) {
        JsonNode *n = json_array_get_element(a, i);

        if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING &&
            g_strcmp0(json_node_get_string(n), s) == 0)
            return TRUE;
    }
    return FALSE;
}

static Descriptor *
descriptor_load(const char *path)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(Descriptor) d = g_new0(Descriptor, 1);
    JsonObject *root, *mapping, *exe, *tmpl;
    JsonArray *features, *targets;

    /* an empty file (how an admin hides a packaged descriptor) has no root */
    if (!json_parser_load_from_file(parser, path, NULL) || json_parser_get_root(parser) == NULL ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
        return NULL;
    root = json_node_get_object(json_parser_get_root(parser));
    mapping = obj_member(root, "mapping");
    exe = obj_member(mapping, "executable");
    tmpl = obj_member(mapping, "nvram-template");
    features = arr_member(root, "features");
    targets = arr_member(root, "targets");
    d->path = g_strdup(path);
    d->uefi = has_string(arr_member(root, "interface-types"), "uefi");
    d->flash = g_strcmp0(str_member(mapping, "device"), "flash") == 0 &&
               g_strcmp0(str_member(exe, "format"), "raw") == 0;
    d->executable = g_strdup(str_member(exe, "filename"));
    if (tmpl != NULL && g_strcmp0(str_member(tmpl, "format"), "raw") == 0)
        d->nvram_template = g_strdup(str_member(tmpl, "filename"));
    d->secure_boot = has_string(features, "secure-boot");
    d->enrolled_keys = has_string(features, "enrolled-keys");
    d->requires_smm = has_string(features, "requires-smm");
    d->targets = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; targets != NULL && i < json_array_get_length(targets); i++) {
        JsonNode *n = json_array_get_element(targets, i);
        JsonObject *t = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        JsonArray *machines = arr_member(t, "machines");

        for (guint k = 0; machines != NULL && k < json_array_get_length(machines); k++) {
            const char *m = json_array_get_string_element(machines, k);

            if (m != NULL && str_member(t, "architecture") != NULL)
                g_ptr_array_add(d->targets, g_strdup_printf("%s\t%s",
                                                            str_member(t, "architecture"), m));
        }
    }
    if (d->executable == NULL)
        return NULL;
    return g_steal_pointer(&d);
}

/* Every descriptor, by file name; a name in an earlier directory hides later ones. */
static GPtrArray *
descriptors_load(void)
{
    const char *const *dirs = search_dirs != NULL ? (const char *const *)search_dirs
                                                  : default_dirs;
    g_autoptr(GHashTable) by_name = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                          g_free);
    g_autoptr(GList) names = NULL;
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)descriptor_free);

    for (guint i = 0; dirs[i] != NULL; i++) {
        g_autoptr(GDir) d = g_dir_open(dirs[i], 0, NULL);
        const char *e;

        while (d != NULL && (e = g_dir_read_name(d)) != NULL) {
            if (!g_str_has_suffix(e, ".json") || g_hash_table_contains(by_name, e))
                continue;
            g_hash_table_insert(by_name, g_strdup(e), g_build_filename(dirs[i], e, NULL));
        }
    }
    names = g_list_sort(g_hash_table_get_keys(by_name), (GCompareFunc)strcmp);
    for (GList *l = names; l != NULL; l = l->next) {
        Descriptor *desc = descriptor_load(g_hash_table_lookup(by_name, l->data));

        if (desc != NULL)
            g_ptr_array_add(out, desc);
        else
            g_debug("ignoring firmware descriptor %s", (const char *)l->data);
    }
    return out;
}

static gboolean
matches_machine(const Descriptor *d, const char *arch, const char *machine)
{
    for (guint i = 0; i < d->targets->len; i++) {
        g_auto(GStrv) parts = g_strsplit(g_ptr_array_index(d->targets, i), "\t", 2);

        if (g_strcmp0(parts[0], arch) == 0 && fnmatch(parts[1], machine, 0) == 0)
            return TRUE;
    }
    return FALSE;
}

static gboolean
matches_domain(const Descriptor *d, const VbDomainFirmware *fw, const char *arch,
               const char *machine)
{
    if (!d->uefi || !d->flash || !matches_machine(d, arch, machine))
        return FALSE;
    if ((fw->secure_boot == 1 && !d->secure_boot) || (fw->secure_boot == 0 && d->secure_boot))
        return FALSE;
    if ((fw->enrolled_keys == 1 && !d->enrolled_keys) ||
        (fw->enrolled_keys == 0 && d->enrolled_keys))
        return FALSE;
    if (fw->loader_secure == 1 && !d->requires_smm)
        return FALSE;
    if (fw->smm == 0 && d->requires_smm)
        return FALSE;
    /* a stateless loader wants no varstore; others a separate one */
    return fw->loader_stateless ? d->nvram_template == NULL : d->nvram_template != NULL;
}

/**
 * vb_qemu_firmware_fill:
 * @def: the definition being started
 * @caps: its QEMU's capabilities (for the machine type's full name)
 * @nvram_path: the NVRAM file to use when the definition names none
 * @error: error
 *
 * Resolves <os firmware='efi'> and an old-style loader without an NVRAM template (see the
 * top of this file).
 *
 * Returns: (transfer full) (nullable): the definition to run, or %NULL when there is
 *   nothing to change (no error) or with an error (no firmware matches).
 */
VbDomainDef *
vb_qemu_firmware_fill(const VbDomainDef *def, const VbQemuCaps *caps, const char *nvram_path,
                      GError **error)
{
    g_auto(VbDomainFirmware) fw = { 0 };
    g_autoptr(GPtrArray) descs = NULL;
    const VbQemuMachine *m = vb_qemu_caps_find_machine(caps, vb_domain_def_get_machine(def));
    const char *machine = m != NULL ? m->name : vb_domain_def_get_machine(def);
    const char *arch = vb_domain_def_get_arch(def) != NULL ? vb_domain_def_get_arch(def)
                                                           : caps->arch;
    gboolean auto_efi;

    vb_domain_def_get_firmware(def, &fw);
    auto_efi = g_strcmp0(fw.firmware, "efi") == 0;
    if (!auto_efi) {
        gboolean old_style = g_strcmp0(fw.loader_type, "pflash") == 0 && fw.loader_readonly &&
                             fw.loader_path != NULL && !fw.loader_stateless &&
                             fw.nvram_template == NULL && !fw.nvram_other;

        if (!old_style || (fw.nvram_path != NULL && g_file_test(fw.nvram_path,
                                                               G_FILE_TEST_EXISTS)))
            return NULL;
    }
    if (machine == NULL || arch == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "<os firmware='efi'>: the machine type and architecture are unknown");
        return NULL;
    }
    descs = descriptors_load();
    for (guint i = 0; i < descs->len; i++) {
        const Descriptor *d = g_ptr_array_index(descs, i);

        if (!auto_efi) {
            if (g_strcmp0(d->executable, fw.loader_path) != 0 || d->nvram_template == NULL)
                continue;
            g_free(fw.nvram_template);
            fw.nvram_template = g_strdup(d->nvram_template);
            if (fw.nvram_path == NULL)
                fw.nvram_path = g_strdup(nvram_path);
            return vb_domain_def_with_firmware(def, &fw, error);
        }
        if (!matches_domain(d, &fw, arch, machine))
            continue;
        g_debug("firmware for %s: %s", def->name, d->path);
        g_clear_pointer(&fw.firmware, g_free);
        g_free(fw.loader_path);
        fw.loader_path = g_strdup(d->executable);
        g_free(fw.loader_type);
        fw.loader_type = g_strdup("pflash");
        fw.loader_readonly = TRUE;
        if (d->requires_smm) {
            fw.smm = fw.smm < 0 ? 1 : fw.smm;
            fw.loader_secure = fw.loader_secure < 0 ? 1 : fw.loader_secure;
        }
        if (d->nvram_template != NULL) {
            g_free(fw.nvram_template);
            fw.nvram_template = g_strdup(d->nvram_template);
            if (fw.nvram_path == NULL)
                fw.nvram_path = g_strdup(nvram_path);
        }
        return vb_domain_def_with_firmware(def, &fw, error);
    }
    if (!auto_efi)
        return NULL; /* libvirt too: the NVRAM step then says what is missing */
    g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                "<os firmware='efi'>: no firmware descriptor matches machine '%s' (%s)%s%s; "
                "install Debian's ovmf package", machine, arch,
                fw.secure_boot == 1 ? " with secure-boot" : "",
                fw.enrolled_keys == 1 ? " with enrolled-keys" : "");
    return NULL;
}

/**
 * vb_qemu_firmware_default_nvram:
 * @def: a definition
 * @nvram_path: STATE_ROOT/nvram/NAME_VARS.fd
 *
 * libvirt's post-parse rule: a read-only pflash loader that is not stateless and has no
 * NVRAM path gets @nvram_path.
 *
 * Returns: (transfer full) (nullable): the changed definition, or %NULL when nothing changes
 *   (no error) or with an error.
 */
VbDomainDef *
vb_qemu_firmware_default_nvram(const VbDomainDef *def, const char *nvram_path, GError **error)
{
    g_auto(VbDomainFirmware) fw = { 0 };

    vb_domain_def_get_firmware(def, &fw);
    if (g_strcmp0(fw.loader_type, "pflash") != 0 || !fw.loader_readonly ||
        fw.loader_path == NULL || fw.loader_stateless || fw.nvram_path != NULL ||
        fw.nvram_other)
        return NULL;
    fw.nvram_path = g_strdup(nvram_path);
    return vb_domain_def_with_firmware(def, &fw, error);
}

/**
 * vb_qemu_firmware_prepare_nvram:
 * @def: the definition to start (after vb_qemu_firmware_fill())
 * @reset: make the file again from the template (libvirt's RESET_NVRAM)
 * @out_created: (out) (optional): whether the file was made now
 * @error: error
 *
 * Makes the NVRAM file of a read-only pflash loader from its template when it does not
 * exist: the template's bytes go to a temporary file in the same directory, fsync, rename,
 * mode 0600 (vb_store_write_atomic()). An existing file is never touched (unless @reset).
 */
gboolean
vb_qemu_firmware_prepare_nvram(const VbDomainDef *def, gboolean reset, gboolean *out_created,
                               GError **error)
{
    g_auto(VbDomainFirmware) fw = { 0 };
    g_autofree char *data = NULL;
    g_autofree char *dir = NULL;
    gsize len = 0;
    g_autoptr(GError) read_err = NULL;

    if (out_created != NULL)
        *out_created = FALSE;
    vb_domain_def_get_firmware(def, &fw);
    if (g_strcmp0(fw.loader_type, "pflash") != 0 || !fw.loader_readonly ||
        fw.nvram_path == NULL || fw.nvram_other)
        return TRUE;
    if (!reset && g_file_test(fw.nvram_path, G_FILE_TEST_EXISTS))
        return TRUE;
    if (fw.nvram_template == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "NVRAM file '%s' does not exist and <nvram> names no template to make it "
                    "from (and no firmware descriptor names loader '%s')", fw.nvram_path,
                    fw.loader_path);
        return FALSE;
    }
    if (!g_file_get_contents(fw.nvram_template, &data, &len, &read_err)) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot read NVRAM template '%s': %s",
                    fw.nvram_template, read_err->message);
        return FALSE;
    }
    dir = g_path_get_dirname(fw.nvram_path);
    if (g_mkdir_with_parents(dir, 0700) < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot create '%s': %s", dir,
                    g_strerror(errno));
        return FALSE;
    }
    if (!vb_store_write_atomic(fw.nvram_path, data, (gssize)len, 0600, error))
        return FALSE;
    if (out_created != NULL)
        *out_created = TRUE;
    return TRUE;
}
