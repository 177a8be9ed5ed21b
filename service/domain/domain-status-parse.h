/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>

#include <glib.h>

G_BEGIN_DECLS

/*
 * A domain's status file (the XML vb_domain_status_save() writes, domain-status.c) as read
 * back after a restart of the service (domain-reconnect.c). Parsed apart from the
 * reconnection, without I/O, so that fuzz/fuzz-status-xml.c reaches it.
 */
typedef struct {
    char *state;
    char *reason;
    int id;
    pid_t pid;
    char *monitor_path;
    char *runtime_dir;
    char *pidfile;
    guint taint;
    char *autodestroy_owner;
    char *caps_xml;
    char *def_xml;
    char *async_job;    /* the async job that ran, or NULL */
    char *async_phase;
    gboolean was_running;
    char *temp_file;
    gboolean starting;  /* the start never finished */
    GPtrArray *helpers; /* char*: kind, id, pid, socket, kind, ... (<helper>) */
    GPtrArray *nets;    /* VbQemuNetPrep* without fds (<netdev>) */
    gboolean agent_frozen; /* <agent frozen='yes'/>: FSFreeze without FSThaw (issue 13) */
    char *attach_pending;  /* <hotplug pending='attach' alias=>: issue 13, part netupd */
    char *cgroup_mode;     /* <cgroup mode= unit=><dir path=/>: issue 14, part cgroup */
    char *cgroup_unit;
    GPtrArray *cgroup_dirs; /* char* */
    gboolean private_dev;   /* <namespace dev='private'/>: issue 14, part devns */
    char *blockjob_xml;     /* <blockjob>, as text: issue 15, part bjrestart */
} VbDomainStatusFile;

gboolean vb_domain_status_parse(const char *contents, VbDomainStatusFile *s, GError **error);
void vb_domain_status_file_clear(VbDomainStatusFile *s);
const char *const *vb_domain_status_file_cgroup_dirs(VbDomainStatusFile *s);

G_END_DECLS
