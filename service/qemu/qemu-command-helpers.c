/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Devices backed by helper processes and firmware (issue 10, part helpers): TPM (swtpm
 * emulator, passthrough), <filesystem> (virtiofs through virtiofsd, 9p), pflash firmware
 * with NVRAM, and the shared memory virtiofs needs. The shapes follow libvirt 9.0 with QEMU
 * 7.2 (qemuBuildTPMCommandLine, qemuBuildFilesystemCommandLine,
 * qemuBuildPflashBlockdevCommandLine). The helper processes themselves are started by the
 * domain layer (qemu-helpers.c plans them); the socket names here are the ones it uses.
 */
#include "config.h"

#include <libxml/parser.h>
#include <string.h>

#include "qemu-command-priv.h"
#include "qemu-helpers.h"
#include "vb-error.h"

/* the first kept child @name of @dev, or NULL */
static const VbRawElem *
kept_child(const VbExtra *extra, const char *name)
{
    for (guint i = 0; extra->children != NULL && i < extra->children->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(extra->children, i);

        if (strcmp(raw->name, name) == 0)
            return raw;
    }
    return NULL;
}

static char *
kept_child_attr(const VbExtra *extra, const char *child, const char *attr)
{
    const VbRawElem *raw = kept_child(extra, child);

    return raw != NULL ? vb_raw_elem_get_attr(raw, attr) : NULL;
}

/* -------- pflash firmware -------- */

static void
add_pflash(VbQemuCmd *c, int n, const char *path, gboolean readonly)
{
    g_autofree char *storage = g_strdup_printf("libvirt-pflash%d-storage", n);
    g_autofree char *format = g_strdup_printf("libvirt-pflash%d-format", n);
    GString *j = vb_json_new();

    vb_json_str(j, "driver", "file");
    vb_json_str(j, "filename", path);
    vb_json_str(j, "node-name", storage);
    vb_json_bool(j, "auto-read-only", TRUE);
    vb_json_str(j, "discard", "unmap");
    vb_qemu_cmd_add_json(c, "-blockdev", j);
    j = vb_json_new();
    vb_json_str(j, "node-name", format);
    vb_json_bool(j, "read-only", readonly);
    vb_json_str(j, "driver", "raw");
    vb_json_str(j, "file", storage);
    vb_qemu_cmd_add_json(c, "-blockdev", j);
}

static gboolean
pflash_checks(VbQemuCmd *c, const VbDomainFirmware *fw, GError **error)
{
    if (fw->loader_secure == 1 && !vb_domain_def_is_q35(c->def) &&
        (c->def->priv->os_machine == NULL || strstr(c->def->priv->os_machine, "q35") == NULL)) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "<loader secure='yes'> is supported with q35 machine types only");
        return FALSE;
    }
    if (fw->loader_secure == 1 && fw->smm != 1) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "<loader secure='yes'> requires <features><smm state='on'/>");
        return FALSE;
    }
    if (fw->nvram_other) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "<nvram> with a type or a <source> (network NVRAM) is not supported; "
                    "give a file path");
        return FALSE;
    }
    if (fw->loader_stateless && fw->nvram_present) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "<loader stateless='yes'> cannot have an <nvram>");
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_qemu_cmd_build_pflash:
 *
 * Before -machine: the -blockdev pairs of a pflash loader (code, then NVRAM), as libvirt
 * 9.0 does; sets what -machine and -global then need. <os firmware='efi'> is resolved by
 * the domain layer before a start (vb_qemu_firmware_fill()); at define (check only) it is
 * accepted as it is.
 */
gboolean
vb_qemu_cmd_build_pflash(VbQemuCmd *c, GError **error)
{
    g_auto(VbDomainFirmware) fw = { 0 };
    gboolean ok = TRUE;

    vb_domain_def_get_firmware(c->def, &fw);
    c->smm = fw.smm;
    if (fw.firmware != NULL && fw.loader_path == NULL) {
        if (g_strcmp0(fw.firmware, "efi") != 0 && g_strcmp0(fw.firmware, "bios") != 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "<os firmware='%s'> is not supported", fw.firmware);
            return FALSE;
        }
        if (c->check_only || g_strcmp0(fw.firmware, "bios") == 0)
            return TRUE; /* SeaBIOS: QEMU's default */
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "<os firmware='efi'> was not resolved to a firmware before the start");
        return FALSE;
    }
    if (g_strcmp0(fw.loader_type, "pflash") != 0)
        return TRUE;
    if (fw.loader_path == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "<loader type='pflash'> needs a path, or <os firmware='efi'>");
        return FALSE;
    }
    ok = pflash_checks(c, &fw, error);
    if (!ok)
        return FALSE;
    add_pflash(c, 0, fw.loader_path, fw.loader_readonly);
    c->pflash = 1;
    /* a read-only code image keeps its variables in a separate NVRAM file */
    if (fw.loader_readonly && !fw.loader_stateless) {
        if (fw.nvram_path == NULL) {
            if (!c->check_only) {
                g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "<loader readonly='yes' type='pflash'> needs an <nvram> path");
                return FALSE;
            }
        } else {
            add_pflash(c, 1, fw.nvram_path, FALSE);
            c->pflash = 2;
        }
    }
    c->pflash_secure = fw.loader_secure == 1;
    return TRUE;
}

/* -machine options of the firmware and memory: ",memory-backend=...,pflash0=..." */
void
vb_qemu_cmd_machine_helper_opts(VbQemuCmd *c, GString *opts)
{
    if (c->pflash >= 1)
        g_string_append(opts, ",pflash0=libvirt-pflash0-format");
    if (c->pflash >= 2)
        g_string_append(opts, ",pflash1=libvirt-pflash1-format");
}

/* after -cpu: secure pflash (only SMM code may write the NVRAM) */
void
vb_qemu_cmd_build_pflash_global(VbQemuCmd *c)
{
    if (c->pflash_secure)
        vb_qemu_cmd_addf(c, "-global", "driver=cfi.pflash01,property=secure,value=on");
}

/* -------- <filesystem> -------- */

typedef struct {
    char *accessmode;
    char *driver_type;
    char *wrpolicy;
    char *queue;
    char *fmode, *dmode, *multidevs;
    char *source_dir;
    char *source_socket;
    char *target_dir;
    gboolean readonly;
} FsInfo;

static void
fs_info_clear(FsInfo *f)
{
    g_free(f->accessmode);
    g_free(f->driver_type);
    g_free(f->wrpolicy);
    g_free(f->queue);
    g_free(f->fmode);
    g_free(f->dmode);
    g_free(f->multidevs);
    g_free(f->source_dir);
    g_free(f->source_socket);
    g_free(f->target_dir);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(FsInfo, fs_info_clear)

static void
fs_info_read(const VbDeviceDef *dev, FsInfo *f)
{
    f->accessmode = g_strdup(vb_extra_get_attr(&dev->extra, "accessmode"));
    f->multidevs = g_strdup(vb_extra_get_attr(&dev->extra, "multidevs"));
    f->fmode = g_strdup(vb_extra_get_attr(&dev->extra, "fmode"));
    f->dmode = g_strdup(vb_extra_get_attr(&dev->extra, "dmode"));
    f->driver_type = kept_child_attr(&dev->extra, "driver", "type");
    f->wrpolicy = kept_child_attr(&dev->extra, "driver", "wrpolicy");
    f->queue = kept_child_attr(&dev->extra, "driver", "queue");
    f->source_dir = kept_child_attr(&dev->extra, "source", "dir");
    f->source_socket = kept_child_attr(&dev->extra, "source", "socket");
    f->target_dir = kept_child_attr(&dev->extra, "target", "dir");
    f->readonly = kept_child(&dev->extra, "readonly") != NULL;
}

static gboolean
build_9p(VbQemuCmd *c, const VbDeviceDef *dev, const FsInfo *f, const char *id,
         GError **error)
{
    static const char *const ok_attrs[] = { "accessmode", "multidevs", "fmode", "dmode", NULL };
    static const char *const ok_children[] = { "driver", "source", "target", "readonly",
                                                NULL };
    const char *mode = f->accessmode != NULL ? f->accessmode : "passthrough";
    g_autofree char *path = NULL;
    g_autofree char *fsdev = g_strconcat("fsdev-", id, NULL);
    g_autoptr(GString) o = g_string_new("local");
    GString *j;

    if (!vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, ok_attrs, ok_children, error))
        return FALSE;
    if (f->driver_type != NULL && strcmp(f->driver_type, "path") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "filesystem driver '%s' is not "
                                       "supported (QEMU 7.2 has 'path' and 'virtiofs')",
                                       f->driver_type);
    if (strcmp(mode, "passthrough") == 0 || strcmp(mode, "mapped") == 0)
        g_string_append_printf(o, ",security_model=%s", mode);
    else if (strcmp(mode, "squash") == 0)
        g_string_append(o, ",security_model=none");
    else
        return vb_qemu_cmd_unsupported(c, error, dev, "accessmode '%s' is not supported",
                                       mode);
    if (g_strcmp0(f->wrpolicy, "immediate") == 0)
        g_string_append(o, ",writeout=immediate");
    else if (f->wrpolicy != NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "wrpolicy '%s' is not supported",
                                       f->wrpolicy);
    if (f->fmode != NULL)
        g_string_append_printf(o, ",fmode=%s", f->fmode);
    if (f->dmode != NULL)
        g_string_append_printf(o, ",dmode=%s", f->dmode);
    if (f->multidevs != NULL && strcmp(f->multidevs, "default") != 0) {
        if (strcmp(f->multidevs, "remap") != 0 && strcmp(f->multidevs, "forbid") != 0 &&
            strcmp(f->multidevs, "warn") != 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "multidevs '%s' is not supported",
                                           f->multidevs);
        g_string_append_printf(o, ",multidevs=%s", f->multidevs);
    }
    path = vb_qemu_cmd_escape(f->source_dir);
    g_string_append_printf(o, ",id=%s,path=%s", fsdev, path);
    if (f->readonly)
        g_string_append(o, ",readonly=on");
    vb_qemu_cmd_addf(c, "-fsdev", "%s", o->str);
    j = vb_json_new();
    vb_json_str(j, "driver", "virtio-9p-pci");
    vb_json_str(j, "id", id);
    vb_json_str(j, "fsdev", fsdev);
    vb_json_str(j, "mount_tag", f->target_dir);
    if (!vb_qemu_cmd_pci_props(c, j, dev, error)) {
        g_string_free(j, TRUE);
        return FALSE;
    }
    return vb_qemu_cmd_add_device(c, dev, j, error);
}

static gboolean
build_virtiofs(VbQemuCmd *c, const VbDeviceDef *dev, const FsInfo *f, const char *id,
               GError **error)
{
    static const char *const ok_attrs[] = { "accessmode", NULL };
    static const char *const ok_children[] = { "driver", "binary", "source", "target", "boot",
                                                "readonly", NULL };
    g_autofree char *chr = g_strconcat("chr-vu-", id, NULL);
    g_autofree char *sock = NULL;
    g_autofree char *esc = NULL;
    GString *j;

    if (!vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, ok_attrs, ok_children, error))
        return FALSE;
    if (f->accessmode != NULL && strcmp(f->accessmode, "passthrough") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev,
                                       "virtiofs only supports accessmode 'passthrough'");
    if (f->readonly)
        return vb_qemu_cmd_unsupported(c, error, dev,
                                       "virtiofs does not support read-only mode");
    if (!vb_qemu_cmd_memory_is_shared(c))
        return vb_qemu_cmd_unsupported(c, error, dev,
                                       "virtiofs needs shared memory: add <memoryBacking>"
                                       "<source type='memfd'/><access mode='shared'/>"
                                       "</memoryBacking>");
    sock = f->source_socket != NULL ? g_strdup(f->source_socket)
                                    : vb_qemu_helper_virtiofs_socket(c->params->runtime_dir,
                                                                     id);
    esc = vb_qemu_cmd_escape(sock);
    vb_qemu_cmd_addf(c, "-chardev", "socket,id=%s,path=%s", chr, esc);
    j = vb_json_new();
    vb_json_str(j, "driver", "vhost-user-fs-pci");
    vb_json_str(j, "id", id);
    vb_json_str(j, "chardev", chr);
    if (f->queue != NULL) {
        guint64 q = 0;

        if (!g_ascii_string_to_unsigned(f->queue, 10, 1, 32768, &q, NULL)) {
            g_string_free(j, TRUE);
            return vb_qemu_cmd_unsupported(c, error, dev, "queue size '%s' is not a number "
                                           "between 1 and 32768", f->queue);
        }
        vb_json_int(j, "queue-size", (gint64)q);
    }
    vb_json_str(j, "tag", f->target_dir);
    vb_qemu_cmd_bootindex(c, j, dev);
    if (!vb_qemu_cmd_pci_props(c, j, dev, error)) {
        g_string_free(j, TRUE);
        return FALSE;
    }
    return vb_qemu_cmd_add_device(c, dev, j, error);
}

static gboolean
build_filesystem(VbQemuCmd *c, const VbDeviceDef *dev, int n, GError **error)
{
    g_auto(FsInfo) f = { 0 };
    g_autofree char *id = g_strdup_printf("fs%d", n);

    fs_info_read(dev, &f);
    if (dev->type != NULL && strcmp(dev->type, "mount") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "filesystem type '%s' is not "
                                       "supported (only 'mount')", dev->type);
    if (f.target_dir == NULL || *f.target_dir == '\0')
        return vb_qemu_cmd_unsupported(c, error, dev, "a <target dir=> (the mount tag) is "
                                       "required");
    if (g_strcmp0(f.driver_type, "virtiofs") == 0) {
        if (f.source_dir == NULL && f.source_socket == NULL)
            return vb_qemu_cmd_unsupported(c, error, dev,
                                           "a <source dir=> or <source socket=> is required");
        return build_virtiofs(c, dev, &f, id, error);
    }
    if (f.source_dir == NULL || *f.source_dir == '\0')
        return vb_qemu_cmd_unsupported(c, error, dev, "a <source dir=> is required");
    return build_9p(c, dev, &f, id, error);
}

/**
 * vb_qemu_cmd_build_filesystems:
 *
 * After the disks, as libvirt: 9p (-fsdev + virtio-9p-pci) and virtiofs (-chardev to the
 * virtiofsd socket + vhost-user-fs-pci), ids fs0, fs1, ... by position.
 */
gboolean
vb_qemu_cmd_build_filesystems(VbQemuCmd *c, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;
    int n = 0;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind == VB_DEV_FILESYSTEM && !build_filesystem(c, dev, n++, error))
            return FALSE;
    }
    return TRUE;
}

/* -------- <tpm> -------- */

static gboolean
build_tpm(VbQemuCmd *c, const VbDeviceDef *dev, int n, GError **error)
{
    g_autoptr(VbQemuTpm) tpm = NULL;
    g_autofree char *tpmdev = g_strdup_printf("tpm-tpm%d", n);
    g_autofree char *id = g_strdup_printf("tpm%d", n);
    g_autofree char *what = vb_qemu_cmd_describe(c, dev);
    GString *j;

    vb_qemu_cmd_consume_device(c, dev);
    tpm = vb_qemu_tpm_read(dev, what, error);
    if (tpm == NULL)
        return FALSE;
    if (n > 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "only one TPM is supported");
    if (tpm->emulator) {
        g_autofree char *sock = vb_qemu_helper_swtpm_socket(c->params->runtime_dir, id);
        g_autofree char *esc = vb_qemu_cmd_escape(sock);

        vb_qemu_cmd_addf(c, "-chardev", "socket,id=chrtpm,path=%s", esc);
        vb_qemu_cmd_addf(c, "-tpmdev", "emulator,id=%s,chardev=chrtpm", tpmdev);
    } else {
        g_autofree char *path = vb_qemu_cmd_escape(tpm->device_path);
        g_autofree char *cancel = vb_qemu_cmd_escape(tpm->cancel_path);

        /* QEMU opens the device itself: it must be there (not checked at define) */
        if (!c->check_only && !g_file_test(tpm->device_path, G_FILE_TEST_EXISTS))
            return vb_qemu_cmd_unsupported(c, error, dev, "TPM device '%s' does not exist",
                                           tpm->device_path);
        vb_qemu_cmd_addf(c, "-tpmdev", "passthrough,id=%s,path=%s,cancel-path=%s", tpmdev,
                         path, cancel);
    }
    j = vb_json_new();
    vb_json_str(j, "driver", tpm->model);
    vb_json_str(j, "tpmdev", tpmdev);
    vb_json_str(j, "id", id);
    return vb_qemu_cmd_add_device(c, dev, j, error);
}

/**
 * vb_qemu_cmd_build_tpms:
 *
 * After the consoles, before the inputs (libvirt's place): -chardev to swtpm's control
 * socket + -tpmdev emulator, or -tpmdev passthrough; then the tpm-tis/tpm-crb device.
 */
gboolean
vb_qemu_cmd_build_tpms(VbQemuCmd *c, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;
    int n = 0;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind == VB_DEV_UNKNOWN && strcmp(dev->raw->name, "tpm") == 0 &&
            !build_tpm(c, dev, n++, error))
            return FALSE;
    }
    return TRUE;
}
