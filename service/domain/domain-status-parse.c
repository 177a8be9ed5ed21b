/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading a status file (domain-status-parse.h): libxml2 without network access, DTD
 * loading or entity substitution; every value is kept as text, checked by the caller.
 * Any thread.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "domain-status-parse.h"
#include "qemu-net.h"
#include "vb-error.h"

/* vb_domain_reason_to_string(VB_DOMAIN_REASON_STARTING_UP) (domain-obj.c), which older
 * status files have as their reason */
#define STARTING_UP "starting-up"


/* The nets of a status file hold no fds: only their strings are freed. */
static void
net_prep_free(gpointer data)
{
    VbQemuNetPrep *p = data;

    g_free(p->alias);
    g_free(p->type);
    g_free(p->kind);
    g_free(p->ifname);
    g_free(p->bridge);
    g_free(p->lower);
    g_free(p->lower_mac);
    g_free(p);
}

/**
 * vb_domain_status_file_clear:
 * @s: a parsed (or zeroed) status
 */
void
vb_domain_status_file_clear(VbDomainStatusFile *s)
{
    g_free(s->state);
    g_free(s->reason);
    g_free(s->monitor_path);
    g_free(s->runtime_dir);
    g_free(s->pidfile);
    g_free(s->autodestroy_owner);
    g_free(s->caps_xml);
    g_free(s->def_xml);
    g_free(s->async_job);
    g_free(s->async_phase);
    g_free(s->temp_file);
    g_free(s->attach_pending);
    g_free(s->cgroup_mode);
    g_free(s->cgroup_unit);
    g_free(s->blockjob_xml);
    g_clear_pointer(&s->cgroup_dirs, g_ptr_array_unref);
    g_clear_pointer(&s->helpers, g_ptr_array_unref);
    g_clear_pointer(&s->nets, g_ptr_array_unref);
}

static char *
prop(xmlNode *node, const char *name)
{
    xmlChar *v = xmlGetProp(node, (const xmlChar *)name);
    char *out = v != NULL ? g_strdup((const char *)v) : NULL;

    xmlFree(v);
    return out;
}

static char *
node_to_string(xmlDoc *doc, xmlNode *node)
{
    xmlBuffer *buf = xmlBufferCreate();
    char *out;

    xmlNodeDump(buf, doc, node, 0, 0);
    out = g_strdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    return out;
}

/* A repeated element (a damaged or hand-edited file): the last one is kept, the earlier
 * values freed (found by fuzz/fuzz-status-xml.c: they leaked). */
static void
replace(char **field, char *value)
{
    g_free(*field);
    *field = value;
}

static void
parse_child(xmlDoc *doc, xmlNode *n, VbDomainStatusFile *s)
{
    const char *name = (const char *)n->name;

    if (g_str_equal(name, "monitor")) {
        replace(&s->monitor_path, prop(n, "path"));
    } else if (g_str_equal(name, "runtime")) {
        replace(&s->runtime_dir, prop(n, "dir"));
        replace(&s->pidfile, prop(n, "pidfile"));
    } else if (g_str_equal(name, "taint")) {
        g_autofree char *flag = prop(n, "flag");
        static const char *const names[] = { "custom-argv", "disk-probing", "custom-monitor",
                                         "custom-ga-command" };

        for (guint i = 0; flag != NULL && i < G_N_ELEMENTS(names); i++)
            s->taint |= g_str_equal(flag, names[i]) ? 1u << i : 0;
    } else if (g_str_equal(name, "job")) {
        g_autofree char *running = prop(n, "wasRunning");

        replace(&s->async_job, prop(n, "async"));
        replace(&s->async_phase, prop(n, "phase"));
        replace(&s->temp_file, prop(n, "tempFile"));
        s->was_running = g_strcmp0(running, "yes") == 0;
    } else if (g_str_equal(name, "helper")) {
        if (s->helpers == NULL)
            s->helpers = g_ptr_array_new_with_free_func(g_free);
        g_ptr_array_add(s->helpers, prop(n, "kind"));
        g_ptr_array_add(s->helpers, prop(n, "id"));
        g_ptr_array_add(s->helpers, prop(n, "pid"));
        g_ptr_array_add(s->helpers, prop(n, "socket"));
    } else if (g_str_equal(name, "netdev")) {
        VbQemuNetPrep *p = g_new0(VbQemuNetPrep, 1);
        g_autofree char *managed = prop(n, "managed");
        g_autofree char *ovs = prop(n, "ovs");

        p->alias = prop(n, "alias");
        p->type = prop(n, "type");
        p->kind = prop(n, "kind");
        p->ifname = prop(n, "name");
        p->managed = g_strcmp0(managed, "yes") == 0;
        p->bridge = prop(n, "bridge");
        p->ovs = g_strcmp0(ovs, "yes") == 0;
        p->lower = prop(n, "lower");
        p->lower_mac = prop(n, "lowerMac");
        if (s->nets == NULL)
            s->nets = g_ptr_array_new_with_free_func(net_prep_free);
        g_ptr_array_add(s->nets, p);
    } else if (g_str_equal(name, "agent")) {
        g_autofree char *frozen = prop(n, "frozen");

        s->agent_frozen = g_strcmp0(frozen, "yes") == 0;
    } else if (g_str_equal(name, "namespace")) {
        g_autofree char *dev = prop(n, "dev");

        s->private_dev = g_strcmp0(dev, "private") == 0; /* issue 14, part devns */
    } else if (g_str_equal(name, "cgroup")) {
        /* issue 14, part cgroup: where the run's QEMU was placed; the last one wins */
        replace(&s->cgroup_mode, prop(n, "mode"));
        replace(&s->cgroup_unit, prop(n, "unit"));
        g_clear_pointer(&s->cgroup_dirs, g_ptr_array_unref);
        s->cgroup_dirs = g_ptr_array_new_with_free_func(g_free);
        for (xmlNode *d = n->children; d != NULL; d = d->next) {
            if (d->type == XML_ELEMENT_NODE && g_str_equal((const char *)d->name, "dir") &&
                s->cgroup_dirs->len < 16) {
                char *path = prop(d, "path");

                if (path != NULL)
                    g_ptr_array_add(s->cgroup_dirs, path);
            }
        }
    } else if (g_str_equal(name, "hotplug")) {
        g_autofree char *pending = prop(n, "pending");

        if (g_strcmp0(pending, "attach") == 0)
            replace(&s->attach_pending, prop(n, "alias"));
    } else if (g_str_equal(name, "autodestroy")) {
        replace(&s->autodestroy_owner, prop(n, "owner"));
    } else if (g_str_equal(name, "qemuCaps")) {
        replace(&s->caps_xml, node_to_string(doc, n));
    } else if (g_str_equal(name, "blockjob")) {
        /* issue 15, part bjrestart: read by domain-blockrestart.c */
        replace(&s->blockjob_xml, node_to_string(doc, n));
    } else if (g_str_equal(name, "domain")) {
        replace(&s->def_xml, node_to_string(doc, n));
    }
}

/**
 * vb_domain_status_file_cgroup_dirs:
 * @s: a parsed status
 *
 * Returns: (transfer none) (nullable): the <cgroup><dir> paths, %NULL-terminated; %NULL
 *   without a <cgroup> (issue 14, part cgroup)
 */
const char *const *
vb_domain_status_file_cgroup_dirs(VbDomainStatusFile *s)
{
    if (s->cgroup_dirs == NULL)
        return NULL;
    g_ptr_array_remove(s->cgroup_dirs, NULL);
    g_ptr_array_add(s->cgroup_dirs, NULL);
    return (const char *const *)s->cgroup_dirs->pdata;
}

/**
 * vb_domain_status_parse:
 * @contents: the file's text
 * @s: (out caller-allocates): zeroed; filled, also on failure (clear it)
 *
 * Returns: whether it is a status file with a pid (or an unfinished start), an id, a
 *     monitor and a definition; InvalidXML otherwise
 */
gboolean
vb_domain_status_parse(const char *contents, VbDomainStatusFile *s, GError **error)
{
    xmlDoc *doc = xmlReadMemory(contents, (int)strlen(contents), "status.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNode *root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    g_autofree char *id = NULL, *pid = NULL, *starting = NULL;

    if (root == NULL || !xmlStrEqual(root->name, (const xmlChar *)"domstatus")) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_XML, "not a domain status file");
        xmlFreeDoc(doc);
        return FALSE;
    }
    s->state = prop(root, "state");
    s->reason = prop(root, "reason");
    id = prop(root, "id");
    pid = prop(root, "pid");
    starting = prop(root, "starting");
    s->id = id != NULL ? atoi(id) : -1;
    s->pid = pid != NULL ? (pid_t)atoi(pid) : 0;
    /* older status files: written after the spawn, with this reason */
    s->starting = g_strcmp0(starting, "yes") == 0 ||
                  g_strcmp0(s->reason, STARTING_UP) == 0;
    for (xmlNode *n = root->children; n != NULL; n = n->next) {
        if (n->type == XML_ELEMENT_NODE)
            parse_child(doc, n, s);
    }
    xmlFreeDoc(doc);
    if ((s->pid <= 0 && !s->starting) || s->id < 0 || s->monitor_path == NULL ||
        s->def_xml == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_XML,
                    "status file lacks pid, id, monitor or definition");
        return FALSE;
    }
    return TRUE;
}

