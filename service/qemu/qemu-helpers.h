/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Helper processes a domain's QEMU needs (swtpm for an emulated TPM, virtiofsd for a
 * virtiofs share, passt for a type='user' interface with <backend type='passt'>) and its
 * firmware files (issue 10, part helpers). The command builder names
 * the sockets with the functions below; the domain layer starts the helpers before QEMU and
 * stops them with it.
 */

#include <glib.h>

#include "domain-def.h"
#include "qemu-caps.h"

G_BEGIN_DECLS

typedef enum {
    VB_QEMU_HELPER_SWTPM,
    VB_QEMU_HELPER_VIRTIOFSD,
    VB_QEMU_HELPER_PASST, /* <interface type='user'><backend type='passt'> (issue 12) */
} VbQemuHelperKind;

/* One helper process to start before QEMU. */
typedef struct {
    VbQemuHelperKind kind;
    char *id;          /* the device's id: tpm0, fs0 */
    char **argv;       /* the daemon, in the foreground */
    char **setup_argv; /* nullable: swtpm_setup, run once when @state_dir has no state */
    char *state_dir;   /* nullable: swtpm's persistent state (created 0700) */
    char *state_file;  /* nullable: the file whose presence says the state exists */
    char *socket;      /* the socket the helper creates and QEMU connects to */
    char *log_path;    /* the helper's own log */
} VbQemuHelper;

void vb_qemu_helper_free(VbQemuHelper *h);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbQemuHelper, vb_qemu_helper_free)

/* What the helpers plan needs beyond the definition. */
typedef struct {
    const char *runtime_dir; /* the domain's runtime directory (sockets) */
    const char *swtpm_dir;   /* STATE_ROOT/swtpm: the TPM state goes to <uuid>/tpm<ver>/ */
    const char *log_dir;     /* helpers' logs: <name>-swtpm.log, <name>-<id>-virtiofsd.log,
                              * <name>-<id>-passt.log */
} VbQemuHelperParams;

GPtrArray *vb_qemu_helpers_plan(const VbDomainDef *def, const VbQemuHelperParams *params,
                                GError **error);
char *vb_qemu_helper_swtpm_socket(const char *runtime_dir, const char *id);
char *vb_qemu_helper_virtiofs_socket(const char *runtime_dir, const char *id);
const char *vb_qemu_helper_kind_to_string(VbQemuHelperKind kind);
char *vb_qemu_helpers_virtiofsd_binary(void);
gboolean vb_qemu_helper_is_ours(pid_t pid, const char *runtime_dir);

/* The emulated TPM's state directory of a domain: STATE_ROOT/swtpm/<uuid>. */
char *vb_qemu_tpm_state_root(const char *swtpm_dir, const char *uuid);

/* firmware (qemu-firmware.c) */
VbDomainDef *vb_qemu_firmware_fill(const VbDomainDef *def, const VbQemuCaps *caps,
                                   const char *nvram_path, GError **error);
gboolean vb_qemu_firmware_prepare_nvram(const VbDomainDef *def, gboolean reset,
                                        gboolean *out_created, GError **error);
VbDomainDef *vb_qemu_firmware_default_nvram(const VbDomainDef *def, const char *nvram_path,
                                            GError **error);
void vb_qemu_firmware_set_search_dirs(const char *const *dirs);

G_END_DECLS
