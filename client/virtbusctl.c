/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>
#include <stddef.h>

#include "bus-errors.h"
#include "migration-remote.h"
#include "vbctl.h"

#define VBCTL_ADDRESS_ENV "VIRTBUS_BUS_ADDRESS"

typedef struct {
    const char *long_name;
    const char *description; /* N_() */
    gsize offset;            /* of the field in VbctlFlags: gboolean, gint or char * */
    gboolean hidden;
    const char *arg_name; /* non-NULL: the option takes an argument, named so in help */
    GOptionArg arg;       /* G_OPTION_ARG_INT or _FILENAME with arg_name, else _NONE */
} VbctlOption;

typedef struct {
    const char *name;
    const char *params;  /* positional arguments, for usage lines */
    const char *summary; /* N_() */
    VbctlCommandFunc func;
    guint min_args;
    guint max_args;
    const VbctlOption *options;
    gboolean bus_optional; /* runs without a bus (ctx->connection NULL, ctx->bus_error set) */
    gboolean hidden;       /* internal: left out of the command list (man page only) */
} VbctlCommand;

typedef struct {
    gboolean system;
    gboolean session;
    char *address;
    char *host;       /* -H [USER@]HOST[:PORT] */
    char *uri;        /* -c, --connect URI */
    char *ssh_config; /* --ssh-config FILE */
} VbctlBusOptions;

#define FLAG(field) offsetof(VbctlFlags, field)
/* snapshots (issue 15, part snapbus; vbctl-snapshot.c) */
#define SFLAG(field) (offsetof(VbctlFlags, snapshot) + offsetof(VbctlSnapshotFlags, field))

static const VbctlOption list_options[] = {
    {"all", N_("List active and inactive domains"), FLAG(all), FALSE},
    {"inactive", N_("List inactive domains only"), FLAG(inactive), FALSE},
    {"state-running", N_("List running domains"), FLAG(state_running), FALSE},
    {"state-paused", N_("List paused domains"), FLAG(state_paused), FALSE},
    {"state-shutoff", N_("List shut off domains"), FLAG(state_shutoff), FALSE},
    {"state-other", N_("List domains in any other state"), FLAG(state_other), FALSE},
    {"persistent", N_("List persistent domains only"), FLAG(persistent), FALSE},
    {"transient", N_("List transient domains only"), FLAG(transient), FALSE},
    {"with-managed-save", N_("List domains with a managed save image only"),
     FLAG(with_managed_save), FALSE},
    {"json", N_("Print JSON for scripts"), FLAG(json), FALSE},
    {"name", N_("Print domain names only"), FLAG(names_only), TRUE},
    {NULL},
};

static const VbctlOption dumpxml_options[] = {
    {"inactive", N_("Show the persistent definition, not the running one"), FLAG(inactive), FALSE},
    {"migratable", N_("Leave out what is implied, as for migration"), FLAG(migratable), FALSE},
    {"security-info", N_("Include secrets such as graphics passwords"), FLAG(security_info), FALSE},
    {NULL},
};

static const VbctlOption define_options[] = {
    {"validate", N_("Refuse settings virtbus would not act on instead of listing them"),
     FLAG(validate), FALSE},
    {NULL},
};

static const VbctlOption undefine_options[] = {
    {"nvram", N_("Also remove the NVRAM (UEFI variables) file"), FLAG(nvram), FALSE},
    {"keep-nvram", N_("Keep the NVRAM file"), FLAG(keep_nvram), FALSE},
    {"tpm", N_("Also remove the emulated TPM's state (the default)"), FLAG(tpm), FALSE},
    {"keep-tpm", N_("Keep the emulated TPM's state"), FLAG(keep_tpm), FALSE},
    {"snapshots-metadata", N_("Also remove the snapshots' metadata (issue 15)"),
     SFLAG(metadata), FALSE},
    {NULL},
};

static const VbctlOption info_options[] = {
    {"json", N_("Print JSON for scripts"), FLAG(json), FALSE},
    {NULL},
};

/* virtual networks (issue 12, vbctl-net.c) */
static const VbctlOption net_list_options[] = {
    {"all", N_("List active and inactive networks"), FLAG(all), FALSE},
    {"inactive", N_("List inactive networks only"), FLAG(inactive), FALSE},
    {"name", N_("Print network names only"), FLAG(names_only), TRUE},
    {NULL},
};

static const VbctlOption net_dumpxml_options[] = {
    {"inactive", N_("Show the persistent definition, not the running one"), FLAG(inactive), FALSE},
    {NULL},
};

static const VbctlOption net_autostart_options[] = {
    {"disable", N_("Do not start the network with the service"), FLAG(disable), FALSE},
    {NULL},
};

static const VbctlOption net_dhcp_leases_options[] = {
    {"mac", N_("Only the leases of this MAC address"), FLAG(mac), FALSE, "MAC",
     G_OPTION_ARG_STRING},
    {NULL},
};

/* guest interfaces (issue 12, part addresses; vbctl-ifaddr.c) */
static const VbctlOption domifaddr_options[] = {
    {"interface", N_("Only the interface with this name"), FLAG(ifaddr_interface), FALSE, "NAME",
     G_OPTION_ARG_STRING},
    {"full", N_("Repeat the name and MAC on every address line"), FLAG(ifaddr_full), FALSE},
    {"source", N_("Where the addresses come from: lease (default), agent or arp"),
     FLAG(ifaddr_source), FALSE, "SOURCE", G_OPTION_ARG_STRING},
    {NULL},
};

/* console and display (issue 13, part console; vbctl-console.c, vbctl-display.c) */
static const VbctlOption console_options[] = {
    {"devname", N_("The console or serial port's alias (serial0, console1)"),
     FLAG(console_devname), FALSE, "ALIAS", G_OPTION_ARG_STRING},
    {"force", N_("Take the console over from the client that has it"), FLAG(console_force),
     FALSE},
    {"safe", N_("Only connect if parallel access is guarded (always with virtbus)"),
     FLAG(console_safe), FALSE},
    {NULL},
};

static const VbctlOption display_stream_options[] = {
    {"index", N_("The display's index among the <graphics> elements (default: the first VNC or "
                 "SPICE one)"),
     FLAG(display_index), FALSE, "N", G_OPTION_ARG_INT},
    {"skip-auth", N_("Skip the display's password (polkit has authorized the console)"),
     FLAG(display_skip_auth), FALSE},
    {NULL},
};

static const VbctlOption domdisplay_options[] = {
    {"type", N_("The display type: vnc or spice"), FLAG(display_type), FALSE, "TYPE",
     G_OPTION_ARG_STRING},
    {NULL},
};

static const VbctlOption screenshot_options[] = {
    {"screen", N_("The screen (head) to capture, 0 for the first"), FLAG(screen), FALSE, "N",
     G_OPTION_ARG_INT},
    {NULL},
};

static const VbctlOption send_key_options[] = {
    {"codeset", N_("The keycodes' set: linux (default), xt, atset1, atset2, atset3, os_x, "
                   "xt_kbd, usb, win32, qnum"),
     FLAG(key_codeset), FALSE, "CODESET", G_OPTION_ARG_STRING},
    {"holdtime", N_("Hold the keys for MS milliseconds"), FLAG(key_holdtime), FALSE, "MS",
     G_OPTION_ARG_INT},
    {NULL},
};

static const VbctlOption desc_options[] = {
    {"title", N_("The title, not the description"), FLAG(meta_title), FALSE},
    {"live", N_("The running definition"), FLAG(meta_live), FALSE},
    {"config", N_("The persistent definition"), FLAG(meta_config), FALSE},
    {NULL},
};

static const VbctlOption metadata_options[] = {
    {"key", N_("The namespace prefix of the element to set"), FLAG(meta_key), FALSE, "KEY",
     G_OPTION_ARG_STRING},
    {"set", N_("Set the element to this XML"), FLAG(meta_set), FALSE, "XML",
     G_OPTION_ARG_STRING},
    {"remove", N_("Remove the element"), FLAG(meta_remove), FALSE},
    {"live", N_("The running definition"), FLAG(meta_live), FALSE},
    {"config", N_("The persistent definition"), FLAG(meta_config), FALSE},
    {NULL},
};

/* devices while running (issue 13, part hotplug) */
static const VbctlOption device_options[] = {
    {"live", N_("Affect the running domain"), FLAG(dev_live), FALSE},
    {"config", N_("Affect the persistent definition"), FLAG(dev_config), FALSE},
    {"current", N_("Affect the running domain if it runs, else the persistent definition"),
     FLAG(dev_current), FALSE},
    {"persistent", N_("Affect the persistent definition, and the running domain if it runs"),
     FLAG(dev_persistent), FALSE},
    {NULL},
};

static const VbctlOption update_device_options[] = {
    {"live", N_("Affect the running domain"), FLAG(dev_live), FALSE},
    {"config", N_("Affect the persistent definition"), FLAG(dev_config), FALSE},
    {"current", N_("Affect the running domain if it runs, else the persistent definition"),
     FLAG(dev_current), FALSE},
    {"persistent", N_("Affect the persistent definition, and the running domain if it runs"),
     FLAG(dev_persistent), FALSE},
    {"force", N_("Eject a medium even if the guest locked the tray"), FLAG(dev_force), FALSE},
    {NULL},
};

/* guest calls (issue 13, part guest2; vbctl-guest2.c) */
#define G2FLAG(field) (offsetof(VbctlFlags, guest2) + offsetof(VbctlGuest2Flags, field))
static const VbctlOption domfstrim_options[] = {
    {"minimum", N_("Do not trim free ranges shorter than BYTES"), G2FLAG(minimum), FALSE,
     "BYTES", G_OPTION_ARG_STRING},
    {"mountpoint", N_("Trim only this mount point (not supported, as libvirt)"),
     G2FLAG(mountpoint), FALSE, "PATH", G_OPTION_ARG_STRING},
    {NULL},
};

static const VbctlOption guestvcpus_options[] = {
    {"cpulist", N_("The guest's vCPUs to change, as in 0-3,^2"), G2FLAG(cpulist), FALSE,
     "LIST", G_OPTION_ARG_STRING},
    {"enable", N_("Bring the vCPUs online"), G2FLAG(enable), FALSE},
    {"disable", N_("Take the vCPUs offline"), G2FLAG(disable), FALSE},
    {NULL},
};

static const VbctlOption dompmsuspend_options[] = {
    {"duration", N_("Seconds to stay suspended (0 only, as libvirt)"), G2FLAG(duration), FALSE,
     "SECONDS", G_OPTION_ARG_INT},
    {NULL},
};

static const VbctlOption change_media_options[] = {
    {"eject", N_("Eject the medium"), FLAG(media_eject), FALSE},
    {"insert", N_("Insert a medium into an empty drive"), FLAG(media_insert), FALSE},
    {"update", N_("Replace the medium (the default; without SOURCE: eject)"),
     FLAG(media_update), FALSE},
    {"block", N_("SOURCE is a block device"), FLAG(media_block), FALSE},
    {"print-xml", N_("Print the disk XML instead of changing the medium"),
     G2FLAG(print_xml), FALSE},
    {"force", N_("Eject a medium even if the guest locked the tray"), FLAG(dev_force), FALSE},
    {"live", N_("Affect the running domain"), FLAG(dev_live), FALSE},
    {"config", N_("Affect the persistent definition"), FLAG(dev_config), FALSE},
    {"current", N_("Affect the running domain if it runs, else the persistent definition"),
     FLAG(dev_current), FALSE},
    {NULL},
};

static const VbctlOption domiflist_options[] = {
    {"inactive", N_("List the persistent definition's interfaces"), FLAG(inactive), FALSE},
    {NULL},
};

/* snapshots (issue 15, part snapbus; vbctl-snapshot.c) */
static const VbctlOption snapshot_create_as_options[] = {
    {"description", N_("A description of the snapshot"), SFLAG(description), FALSE, "TEXT",
     G_OPTION_ARG_STRING},
    {"disk-only", N_("The disks only: external overlays unless --diskspec says otherwise"),
     SFLAG(disk_only), FALSE},
    {"no-metadata", N_("Take the snapshot in the images but keep no metadata"),
     SFLAG(no_metadata), FALSE},
    {"reuse-external", N_("Use the existing files --diskspec names as the overlays"),
     SFLAG(reuse_external), FALSE},
    {"quiesce", N_("Freeze the guest's file systems meanwhile (guest agent; --disk-only)"),
     SFLAG(quiesce), FALSE},
    {"halt", N_("Shut the running domain off once the snapshot is taken"), SFLAG(halt),
     FALSE},
    {"diskspec", N_("Disks: DISK[,snapshot=internal|external|no][,file=PATH], several "
                    "separated by spaces"), SFLAG(diskspec), FALSE, "SPECS",
     G_OPTION_ARG_STRING},
    {"memspec", N_("The memory state: [file=]PATH[,snapshot=external|internal|no]"),
     SFLAG(memspec), FALSE, "SPEC", G_OPTION_ARG_STRING},
    {"live", N_("With an external memory file: save the memory while the guest runs"),
     SFLAG(live), FALSE},
    {"validate", N_("Refuse XML virtbus does not know instead of keeping it"), SFLAG(validate),
     FALSE},
    {NULL},
};

static const VbctlOption snapshot_create_options[] = {
    {"redefine", N_("Record the metadata of an existing snapshot"), SFLAG(redefine), FALSE},
    {"current", N_("With --redefine: make it the current snapshot"), SFLAG(current), FALSE},
    {"validate", N_("Refuse XML virtbus does not know instead of keeping it"), SFLAG(validate),
     FALSE},
    {NULL},
};

static const VbctlOption snapshot_list_options[] = {
    {"tree", N_("Print the snapshots as a tree"), SFLAG(tree), FALSE},
    {"roots", N_("List the snapshots without a parent only"), SFLAG(roots), FALSE},
    {"name", N_("Print the names only"), SFLAG(name), FALSE},
    {NULL},
};

static const VbctlOption snapshot_dumpxml_options[] = {
    {"security-info", N_("Include secrets"), FLAG(security_info), FALSE},
    {NULL},
};

static const VbctlOption snapshot_revert_options[] = {
    {"force", N_("Revert even when it needs a new QEMU"), SFLAG(force), FALSE},
    {"running", N_("Let the guest run after the revert (starts an inactive domain)"),
     SFLAG(running), FALSE},
    {"paused", N_("Leave the guest paused after the revert (starts an inactive domain)"),
     SFLAG(paused), FALSE},
    {"reset-nvram", N_("Make the NVRAM again from its template when the revert starts QEMU"),
     SFLAG(reset_nvram), FALSE},
    {NULL},
};

static const VbctlOption snapshot_delete_options[] = {
    {"children", N_("Delete its descendants too"), SFLAG(children), FALSE},
    {"children-only", N_("Delete its descendants only"), SFLAG(children_only), FALSE},
    {"metadata", N_("Delete the metadata only, keep the snapshots in the images"),
     SFLAG(metadata), FALSE},
    {NULL},
};

static const VbctlOption snapshot_current_options[] = {
    {"name", N_("Print the name only, not the XML"), SFLAG(name), FALSE},
    {NULL},
};

/* the guest agent (issue 13, part agent; vbctl-agent.c) */
#define AFLAG(field) (offsetof(VbctlFlags, agent) + offsetof(VbctlAgentFlags, field))
static const VbctlOption power_options[] = {
    {"mode", N_("How: acpi, agent, or acpi,agent (the agent first)"), AFLAG(mode), FALSE,
     "MODE", G_OPTION_ARG_STRING},
    {NULL},
};

static const VbctlOption domtime_options[] = {
    {"now", N_("Set the guest's clock to the host's"), AFLAG(now), FALSE},
    {"sync", N_("Set the guest's clock from its RTC"), AFLAG(sync), FALSE},
    {"time", N_("Set the guest's clock to SECONDS since the epoch"), AFLAG(time), FALSE,
     "SECONDS", G_OPTION_ARG_STRING},
    {"pretty", N_("Print the time as a date"), FLAG(pretty), FALSE},
    {NULL},
};

static const VbctlOption domhostname_options[] = {
    {"source", N_("Where the name comes from: agent"), AFLAG(source), FALSE, "SOURCE",
     G_OPTION_ARG_STRING},
    {NULL},
};

static const VbctlOption guestinfo_options[] = {
    {"user", N_("Logged-in users"), AFLAG(user), FALSE},
    {"os", N_("Operating system"), AFLAG(os), FALSE},
    {"timezone", N_("Time zone"), AFLAG(timezone), FALSE},
    {"hostname", N_("Host name"), AFLAG(hostname), FALSE},
    {"filesystem", N_("File systems"), AFLAG(filesystem), FALSE},
    {"disk", N_("Disks (block devices)"), AFLAG(disk), FALSE},
    {"interface", N_("Network interfaces"), AFLAG(interface), FALSE},
    {NULL},
};

static const VbctlOption set_user_password_options[] = {
    {"encrypted", N_("The password is already a crypt(3) hash"), AFLAG(encrypted), FALSE},
    {NULL},
};

static const VbctlOption agent_command_options[] = {
    {"timeout", N_("Wait at most SECONDS for the reply"), FLAG(timeout), FALSE, "SECONDS",
     G_OPTION_ARG_INT},
    {"async", N_("Do not wait for the reply"), AFLAG(async), FALSE},
    {"block", N_("Wait for the reply as long as the service allows (300 s)"), AFLAG(block),
     FALSE},
    {"pretty", N_("Pretty-print the reply"), FLAG(pretty), FALSE},
    {NULL},
};

/* statistics (issue 13, part stats; vbctl-stats.c) */
static const VbctlOption domstats_options[] = {
    {"state", N_("Report the domain state"), FLAG(stats_state), FALSE},
    {"cpu-total", N_("Report the QEMU process' CPU time"), FLAG(stats_cpu_total), FALSE},
    {"balloon", N_("Report the balloon and the guest's memory"), FLAG(stats_balloon), FALSE},
    {"vcpu", N_("Report the virtual CPUs"), FLAG(stats_vcpu), FALSE},
    {"interface", N_("Report the network interfaces"), FLAG(stats_interface), FALSE},
    {"block", N_("Report the disks"), FLAG(stats_block), FALSE},
    {"perf", N_("Report perf events (not supported: left out)"), FLAG(stats_perf), FALSE},
    {"iothread", N_("Report the I/O threads"), FLAG(stats_iothread), FALSE},
    {"memory", N_("Report memory bandwidth (not supported: left out)"), FLAG(stats_memory),
     FALSE},
    {"dirtyrate", N_("Report the last dirty page rate calculation"), FLAG(stats_dirtyrate),
     FALSE},
    {"list-active", N_("Only active domains"), FLAG(stats_list_active), FALSE},
    {"list-inactive", N_("Only inactive domains"), FLAG(stats_list_inactive), FALSE},
    {"list-persistent", N_("Only persistent domains"), FLAG(persistent), FALSE},
    {"list-transient", N_("Only transient domains"), FLAG(transient), FALSE},
    {"list-running", N_("Only running domains"), FLAG(state_running), FALSE},
    {"list-paused", N_("Only paused domains"), FLAG(state_paused), FALSE},
    {"list-shutoff", N_("Only shut off domains"), FLAG(state_shutoff), FALSE},
    {"list-other", N_("Only domains in any other state"), FLAG(state_other), FALSE},
    {"nowait", N_("Leave out what needs QEMU when a domain is busy, instead of waiting"),
     FLAG(stats_nowait), FALSE},
    {"backing", N_("Also report the backing images of each disk"), FLAG(stats_backing), FALSE},
    {"enforce", N_("Fail when a requested group is not supported"), FLAG(stats_enforce), FALSE},
    {NULL},
};

static const VbctlOption domblklist_options[] = {
    {"inactive", N_("List the persistent definition's disks"), FLAG(inactive), FALSE},
    {"details", N_("Also print the type and device of each disk"), FLAG(stats_details), FALSE},
    {NULL},
};

static const VbctlOption dommemstat_options[] = {
    {"period", N_("Set the guest's statistics period in seconds (0: off)"), FLAG(stats_period),
     FALSE, "SECONDS", G_OPTION_ARG_INT},
    {"live", N_("With --period: the running domain"), FLAG(stats_live), FALSE},
    {"config", N_("With --period: the persistent definition"), FLAG(stats_config), FALSE},
    {"current", N_("With --period: the running domain if it runs, else the definition"),
     FLAG(stats_current), FALSE},
    {NULL},
};

static const VbctlOption cpu_stats_options[] = {
    {"total", N_("Print the total only (the only figures virtbus has)"), FLAG(stats_total),
     FALSE},
    {NULL},
};

static const VbctlOption autostart_options[] = {
    {"disable", N_("Do not start the domain with the service"), FLAG(disable), FALSE},
    {NULL},
};

static const VbctlOption start_options[] = {
    {"paused", N_("Leave the virtual CPUs stopped"), FLAG(paused), FALSE},
    {"autodestroy", N_("Destroy the domain when virtbusctl exits; wait until then"),
     FLAG(autodestroy), FALSE},
    {NULL},
};

static const VbctlOption destroy_options[] = {
    {"graceful", N_("Only ask QEMU to exit (SIGTERM), never kill it"), FLAG(graceful), FALSE},
    {NULL},
};

static const VbctlOption domstate_options[] = {
    {"reason", N_("Also print why the domain is in its state"), FLAG(reason), FALSE},
    {NULL},
};

static const VbctlOption event_options[] = {
    {"loop", N_("Print events until interrupted, not only the first one"), FLAG(loop), FALSE},
    /* issue 13, part memev */
    {"all", N_("Print every domain event (balloon, watchdog, I/O errors, ...), not only "
               "lifecycle events"), FLAG(all), FALSE},
    {"timestamp", N_("Print the time before each event"), FLAG(timestamp), FALSE},
    {"timeout", N_("Stop waiting after SECONDS"), FLAG(timeout), FALSE, "SECONDS",
     G_OPTION_ARG_INT},
    {NULL},
};

/* issue 13, part memev */
static const VbctlOption setmem_options[] = {
    {"live", N_("Change the running domain (the balloon)"), FLAG(mem_live), FALSE},
    {"config", N_("Change the persistent definition"), FLAG(mem_config), FALSE},
    {"current", N_("The running domain if it runs, else the definition"), FLAG(mem_current),
     FALSE},
    {NULL},
};

static const VbctlOption pin_options[] = {
    {"live", N_("The running domain"), FLAG(mem_live), FALSE},
    {"config", N_("The persistent definition"), FLAG(mem_config), FALSE},
    {"current", N_("The running domain if it runs, else the definition"), FLAG(mem_current),
     FALSE},
    {NULL},
};

static const VbctlOption setvcpus_options[] = {
    {"live", N_("Plug vCPUs into the running domain"), FLAG(mem_live), FALSE},
    {"config", N_("Change the persistent definition"), FLAG(mem_config), FALSE},
    {"current", N_("The running domain if it runs, else the definition"), FLAG(mem_current),
     FALSE},
    {"maximum", N_("With --config: change the maximum count"), FLAG(vcpu_maximum), FALSE},
    {"guest", N_("Online or offline vCPUs in the guest, through its agent"), G2FLAG(guest),
     FALSE},
    {NULL},
};

/* issue 13, part vcpuio */
static const VbctlOption vcpucount_options[] = {
    {"maximum", N_("The maximum count"), FLAG(count_maximum), FALSE},
    {"active", N_("The current count"), FLAG(count_active), FALSE},
    {"live", N_("Of the running domain"), FLAG(mem_live), FALSE},
    {"config", N_("Of the persistent definition"), FLAG(mem_config), FALSE},
    {"current", N_("Of the running domain if it runs, else the definition"),
     FLAG(mem_current), FALSE},
    {"guest", N_("As the guest agent sees it (online vCPUs)"), FLAG(count_guest), FALSE},
    {NULL},
};

static const VbctlOption perf_options[] = {
    {"enable", N_("Enable these perf events (comma separated)"), FLAG(perf_enable), FALSE,
     "EVENTS", G_OPTION_ARG_STRING},
    {"disable", N_("Disable these perf events (comma separated)"), FLAG(perf_disable), FALSE,
     "EVENTS", G_OPTION_ARG_STRING},
    {"live", N_("The running domain"), FLAG(mem_live), FALSE},
    {"config", N_("The persistent definition"), FLAG(mem_config), FALSE},
    {"current", N_("The running domain if it runs, else the definition"), FLAG(mem_current),
     FALSE},
    {NULL},
};

/* issue 14, part cgroup: memtune, schedinfo, blkiotune */
static const VbctlOption tune_options[] = {
    {"live", N_("The running domain"), FLAG(mem_live), FALSE},
    {"config", N_("The persistent definition"), FLAG(mem_config), FALSE},
    {"current", N_("The running domain if it runs, else the definition"), FLAG(mem_current),
     FALSE},
    {NULL},
};

static const VbctlOption setmaxmem_options[] = {
    {"config", N_("Change the persistent definition"), FLAG(mem_config), FALSE},
    {"current", N_("The current definition (refused while the domain runs)"),
     FLAG(mem_current), FALSE},
    {NULL},
};

static const VbctlOption monitor_options[] = {
    {"pretty", N_("Pretty-print the reply"), FLAG(pretty), FALSE},
    {NULL},
};

static const VbctlOption save_options[] = {
    {"running", N_("Let the restored domain run"), FLAG(running), FALSE},
    {"paused", N_("Leave the restored domain paused"), FLAG(paused), FALSE},
    {"compress", N_("Compress the memory image (zstd)"), FLAG(compress), FALSE},
    {"xml", N_("Record the domain XML in FILE in the image instead"), FLAG(xml_file), FALSE,
     "FILE", G_OPTION_ARG_FILENAME},
    {"no-progress", N_("Do not show the job's progress on stderr"), FLAG(no_progress), FALSE},
    {NULL},
};

static const VbctlOption restore_options[] = {
    {"running", N_("Let the restored domain run"), FLAG(running), FALSE},
    {"paused", N_("Leave the restored domain paused"), FLAG(paused), FALSE},
    {"xml", N_("Restore with the domain XML in FILE instead of the image's"), FLAG(xml_file),
     FALSE, "FILE", G_OPTION_ARG_FILENAME},
    {"no-progress", N_("Do not show the job's progress on stderr"), FLAG(no_progress), FALSE},
    {NULL},
};

static const VbctlOption managedsave_options[] = {
    {"running", N_("Let the restored domain run"), FLAG(running), FALSE},
    {"paused", N_("Leave the restored domain paused"), FLAG(paused), FALSE},
    {"compress", N_("Compress the memory image (zstd)"), FLAG(compress), FALSE},
    {"no-progress", N_("Do not show the job's progress on stderr"), FLAG(no_progress), FALSE},
    {NULL},
};

static const VbctlOption dump_options[] = {
    {"no-progress", N_("Do not show the job's progress on stderr"), FLAG(no_progress), FALSE},
    {NULL},
};

static const VbctlOption domjobinfo_options[] = {
    {"completed", N_("Show the last completed job instead of the running one"), FLAG(completed),
     FALSE},
    {"json", N_("Print JSON for scripts"), FLAG(json), FALSE},
    {NULL},
};

/* migrate and migrate-* (issue 11, part client); checked by vbctl_migrate_check_args() */
#define MFLAG(field) offsetof(VbctlFlags, migrate.field)

static const VbctlOption migrate_options[] = {
    {"live", N_("Migrate while the guest runs"), MFLAG(live), FALSE},
    {"offline", N_("Move the persistent definition only"), MFLAG(offline), FALSE},
    {"p2p", N_("Let the source service drive the migration (default for ssh://)"), MFLAG(p2p),
     FALSE},
    {"direct", N_("Direct migration (not supported, as with QEMU in libvirt)"), MFLAG(direct),
     FALSE},
    {"tunnelled", N_("Send the stream through the services' connection (needs --p2p)"),
     MFLAG(tunnelled), FALSE},
    {"copy-storage-all", N_("Copy non-shared disks to the destination"), MFLAG(copy_storage_all),
     FALSE},
    {"copy-storage-inc", N_("Copy non-shared disks, sharing their backing images"),
     MFLAG(copy_storage_inc), FALSE},
    {"persistent", N_("Make the domain persistent on the destination"), FLAG(persistent), FALSE},
    {"undefinesource", N_("Undefine the domain on the source"), MFLAG(undefinesource), FALSE},
    {"suspend", N_("Leave the domain paused on the destination"), MFLAG(suspend), FALSE},
    {"postcopy", N_("Allow switching to post-copy (see migrate-postcopy)"), MFLAG(postcopy),
     FALSE},
    {"postcopy-after-precopy", N_("Switch to post-copy after the first pass over memory"),
     MFLAG(postcopy_after_precopy), FALSE},
    {"parallel", N_("Send memory over several connections"), MFLAG(parallel), FALSE},
    {"parallel-connections", N_("Number of connections with --parallel"),
     MFLAG(parallel_connections), FALSE, "N", G_OPTION_ARG_STRING},
    {"compressed", N_("Compress the stream"), MFLAG(compressed), FALSE},
    {"comp-methods", N_("Compression methods, comma separated (with --compressed)"),
     MFLAG(comp_methods), FALSE, "LIST", G_OPTION_ARG_STRING},
    {"auto-converge", N_("Slow the guest down if the migration does not converge"),
     MFLAG(auto_converge), FALSE},
    {"abort-on-error", N_("Abort on I/O errors during the migration"), MFLAG(abort_on_error),
     FALSE},
    {"rdma-pin-all", N_("Pin all memory for RDMA (not supported by the service)"),
     MFLAG(rdma_pin_all), FALSE},
    {"bandwidth", N_("Bandwidth limit in MiB/s"), MFLAG(bandwidth), FALSE, "MiB/s",
     G_OPTION_ARG_STRING},
    {"postcopy-bandwidth", N_("Bandwidth limit of the post-copy phase in MiB/s"),
     MFLAG(postcopy_bandwidth), FALSE, "MiB/s", G_OPTION_ARG_STRING},
    {"migrateuri", N_("Where the destination listens (tcp://HOST[:PORT])"), MFLAG(migrateuri),
     FALSE, "URI", G_OPTION_ARG_STRING},
    {"dname", N_("The domain's name on the destination"), MFLAG(dname), FALSE, "NAME",
     G_OPTION_ARG_STRING},
    {"xml", N_("Run the domain XML in FILE on the destination"), FLAG(xml_file), FALSE, "FILE",
     G_OPTION_ARG_FILENAME},
    {"persistent-xml", N_("Persistent definition for the destination (with --persistent)"),
     MFLAG(persistent_xml), FALSE, "FILE", G_OPTION_ARG_FILENAME},
    {"timeout", N_("After SECONDS, suspend the guest or switch to post-copy"), FLAG(timeout), FALSE,
     "SECONDS", G_OPTION_ARG_INT},
    {"timeout-suspend", N_("At --timeout, suspend the guest (the default)"), MFLAG(timeout_suspend),
     FALSE},
    {"timeout-postcopy", N_("At --timeout, switch to post-copy"), MFLAG(timeout_postcopy), FALSE},
    {"verbose", N_("Also print each phase of the migration"), MFLAG(verbose), FALSE},
    {"wait", N_("Wait for the end of the migration (the default)"), MFLAG(wait), FALSE},
    {"no-progress", N_("Do not show the migration's progress on stderr"), FLAG(no_progress),
     FALSE},
    {NULL},
};

static const VbctlOption migrate_speed_options[] = {
    {"postcopy", N_("The bandwidth of the post-copy phase"), MFLAG(postcopy), FALSE},
    {NULL},
};

/* block jobs (issue 15, part blockjob; vbctl-blockjob.c) */
#define BFLAG(field) (offsetof(VbctlFlags, block) + offsetof(VbctlBlockFlags, field))
static const VbctlOption blockpull_options[] = {
    {"bandwidth", N_("Limit the copy to N MiB/s (bytes/s with --bytes)"), BFLAG(bandwidth),
     FALSE, "N", G_OPTION_ARG_STRING},
    {"bytes", N_("--bandwidth is in bytes/s"), BFLAG(bytes), FALSE},
    {"no-progress", N_("Do not show the job's progress on stderr"), FLAG(no_progress), FALSE},
    {NULL},
};

static const VbctlOption blockcommit_options[] = {
    {"base", N_("The image to commit into (default: the deepest)"), BFLAG(base), FALSE,
     "PATH", G_OPTION_ARG_STRING},
    {"top", N_("The image to commit (default: the active one, with --active)"), BFLAG(top),
     FALSE, "PATH", G_OPTION_ARG_STRING},
    {"shallow", N_("Commit into the image right below --top"), BFLAG(shallow), FALSE},
    {"active", N_("Commit the active image; finish with blockjob --pivot"), BFLAG(active),
     FALSE},
    {"wait", N_("With --active: wait until the commit is ready (synchronized)"), BFLAG(wait),
     FALSE},
    {"pivot", N_("With --active: once ready, pivot to the base (implies --wait)"),
     BFLAG(pivot), FALSE},
    {"keep-overlay", N_("With --active: once ready, end the commit keeping the overlay "
                        "(implies --wait)"), BFLAG(keep_overlay), FALSE},
    {"bandwidth", N_("Limit the copy to N MiB/s (bytes/s with --bytes)"), BFLAG(bandwidth),
     FALSE, "N", G_OPTION_ARG_STRING},
    {"bytes", N_("--bandwidth is in bytes/s"), BFLAG(bytes), FALSE},
    {"no-progress", N_("Do not show the job's progress on stderr"), FLAG(no_progress), FALSE},
    {NULL},
};

static const VbctlOption blockcopy_options[] = {
    {"format", N_("The destination's format: raw or qcow2 (default: the disk's for a new "
                  "image, raw for an existing one)"), BFLAG(format), FALSE, "FORMAT",
     G_OPTION_ARG_STRING},
    {"reuse-external", N_("Copy into the existing image DEST (else the service makes it)"),
     BFLAG(reuse_external), FALSE},
    {"shallow", N_("Copy the top image only; DEST goes on the disk's backing image"),
     BFLAG(shallow), FALSE},
    {"wait", N_("Wait until the copy is ready (mirroring), showing its progress"), BFLAG(wait),
     FALSE},
    {"pivot", N_("Once ready, pivot the disk to DEST (implies --wait)"), BFLAG(pivot), FALSE},
    {"finish", N_("Once ready, end the copy keeping DEST as it is (implies --wait)"),
     BFLAG(finish), FALSE},
    {"no-progress", N_("Do not show the job's progress on stderr"), FLAG(no_progress), FALSE},
    {"bandwidth", N_("Limit the copy to N MiB/s (bytes/s with --bytes)"), BFLAG(bandwidth),
     FALSE, "N", G_OPTION_ARG_STRING},
    {"bytes", N_("--bandwidth is in bytes/s"), BFLAG(bytes), FALSE},
    {NULL},
};

static const VbctlOption blockjob_options[] = {
    {"info", N_("Print the disk's block job (the default)"), BFLAG(info), FALSE},
    {"abort", N_("Cancel the disk's block job"), BFLAG(abort), FALSE},
    {"pivot", N_("Finish a ready active commit: the disk goes on with the base"),
     BFLAG(pivot), FALSE},
    {"async", N_("With --abort or --pivot: return at once"), BFLAG(async), FALSE},
    {"bandwidth", N_("Change the job's limit to N MiB/s (bytes/s with --bytes)"),
     BFLAG(bandwidth), FALSE, "N", G_OPTION_ARG_STRING},
    {"bytes", N_("Bandwidths in bytes/s"), BFLAG(bytes), FALSE},
    {NULL},
};

static gboolean cmd_help(VbctlContext *ctx, GError **error);

static const VbctlCommand commands[] = {
    {"list", "", N_("List domains"), vbctl_cmd_list, 0, 0, list_options},
    {"define", "FILE", N_("Define or update a domain from an XML file ('-' for stdin)"),
     vbctl_cmd_define, 1, 1, define_options},
    {"undefine", "NAME|UUID", N_("Remove a domain's definition"), vbctl_cmd_undefine, 1, 1,
     undefine_options},
    {"dumpxml", "NAME|UUID", N_("Print a domain's XML"), vbctl_cmd_dumpxml, 1, 1, dumpxml_options},
    {"info", "NAME|UUID", N_("Show a domain's state and resources"), vbctl_cmd_info, 1, 1,
     info_options},
    {"autostart", "NAME|UUID", N_("Start a domain with the service, or not"), vbctl_cmd_autostart,
     1, 1, autostart_options},
    {"start", "NAME|UUID", N_("Start a defined domain"), vbctl_cmd_start, 1, 1, start_options},
    {"create", "FILE", N_("Create and start a transient domain from an XML file"),
     vbctl_cmd_create, 1, 1, start_options},
    {"shutdown", "NAME|UUID", N_("Ask the guest to power off"), vbctl_cmd_shutdown, 1, 1,
     power_options},
    {"reboot", "NAME|UUID", N_("Ask the guest to reboot"), vbctl_cmd_reboot, 1, 1,
     power_options},
    {"reset", "NAME|UUID", N_("Reset the domain at once, like a reset button"), vbctl_cmd_reset,
     1, 1, NULL},
    {"destroy", "NAME|UUID", N_("Stop a domain's QEMU now"), vbctl_cmd_destroy, 1, 1,
     destroy_options},
    {"suspend", "NAME|UUID", N_("Pause a domain's virtual CPUs"), vbctl_cmd_suspend, 1, 1, NULL},
    {"resume", "NAME|UUID", N_("Let a paused domain run again"), vbctl_cmd_resume, 1, 1, NULL},
    {"save", "NAME|UUID FILE", N_("Save a running domain's state to a file and stop it"),
     vbctl_cmd_save, 2, 2, save_options},
    {"restore", "FILE", N_("Start a domain from a file written by save"), vbctl_cmd_restore, 1, 1,
     restore_options},
    {"managedsave", "NAME|UUID", N_("Save a domain to the service's image; start restores it"),
     vbctl_cmd_managedsave, 1, 1, managedsave_options},
    {"managedsave-remove", "NAME|UUID", N_("Remove a domain's managed save image"),
     vbctl_cmd_managedsave_remove, 1, 1, NULL},
    {"dump", "NAME|UUID FILE", N_("Write a domain's memory to an ELF core file"), vbctl_cmd_dump,
     2, 2, dump_options},
    {"domjobinfo", "NAME|UUID", N_("Show the statistics of a domain's job"), vbctl_cmd_domjobinfo,
     1, 1, domjobinfo_options},
    {"domjobabort", "NAME|UUID", N_("Cancel a domain's running job"), vbctl_cmd_domjobabort, 1, 1,
     NULL},
    {"migrate", "NAME|UUID DEST_URI", N_("Move a domain to another host"), vbctl_cmd_migrate, 2, 2,
     migrate_options},
    {"migrate-setspeed", "NAME|UUID MiB/s", N_("Limit a migration's bandwidth"),
     vbctl_cmd_migrate_setspeed, 2, 2, migrate_speed_options},
    {"migrate-getspeed", "NAME|UUID", N_("Print a migration's bandwidth limit"),
     vbctl_cmd_migrate_getspeed, 1, 1, migrate_speed_options},
    {"migrate-setmaxdowntime", "NAME|UUID MS", N_("Set the longest pause a migration may cause"),
     vbctl_cmd_migrate_setmaxdowntime, 2, 2, NULL},
    {"migrate-getmaxdowntime", "NAME|UUID", N_("Print the longest pause a migration may cause"),
     vbctl_cmd_migrate_getmaxdowntime, 1, 1, NULL},
    {"migrate-postcopy", "NAME|UUID", N_("Switch a running migration to post-copy"),
     vbctl_cmd_migrate_postcopy, 1, 1, NULL},
    {"domstate", "NAME|UUID", N_("Print a domain's state"), vbctl_cmd_domstate, 1, 1,
     domstate_options},
    {"domifaddr", "NAME|UUID", N_("Print the addresses of a running domain's interfaces"),
     vbctl_cmd_domifaddr, 1, 1, domifaddr_options},
    {"domiflist", "NAME|UUID", N_("List a domain's network interfaces"), vbctl_cmd_domiflist, 1,
     1, domiflist_options},
    {"domstats", "[NAME|UUID...]", N_("Print domain statistics (all domains without names)"),
     vbctl_cmd_domstats, 0, G_MAXUINT, domstats_options},
    {"domblklist", "NAME|UUID", N_("List a domain's disks"), vbctl_cmd_domblklist, 1, 1,
     domblklist_options},
    {"domblkinfo", "NAME|UUID DISK", N_("Print a disk's capacity, allocation and physical size"),
     vbctl_cmd_domblkinfo, 2, 2, NULL},
    /* block jobs (issue 15, part blockjob) */
    {"blockpull", "NAME|UUID DISK", N_("Copy a disk's backing chain into its top image"),
     vbctl_cmd_blockpull, 2, 2, blockpull_options},
    {"blockcommit", "NAME|UUID DISK", N_("Commit images of a disk's chain into a lower one"),
     vbctl_cmd_blockcommit, 2, 2, blockcommit_options},
    {"blockcopy", "NAME|UUID DISK DEST", N_("Copy a disk into another image, then pivot to it"),
     vbctl_cmd_blockcopy, 3, 3, blockcopy_options},
    {"blockjob", "NAME|UUID DISK", N_("Print, cancel, pivot or limit a disk's block job"),
     vbctl_cmd_blockjob, 2, 2, blockjob_options},
    {"blockresize", "NAME|UUID DISK SIZE", N_("Resize a running domain's disk (KiB by default)"),
     vbctl_cmd_blockresize, 3, 3, NULL},
    {"domblkthreshold", "NAME|UUID DEV THRESHOLD",
     N_("Fire the BlockThreshold event when a write passes THRESHOLD bytes"),
     vbctl_cmd_domblkthreshold, 3, 3, NULL},
    {"domblkstat", "NAME|UUID [DISK]", N_("Print a running domain's disk I/O counters"),
     vbctl_cmd_domblkstat, 1, 2, NULL},
    {"domifstat", "NAME|UUID DEVICE", N_("Print an interface's traffic counters"),
     vbctl_cmd_domifstat, 2, 2, NULL},
    {"dommemstat", "NAME|UUID", N_("Print a domain's memory statistics, or set their period"),
     vbctl_cmd_dommemstat, 1, 1, dommemstat_options},
    {"vcpuinfo", "NAME|UUID", N_("Print the state and CPU time of each virtual CPU"),
     vbctl_cmd_vcpuinfo, 1, 1, NULL},
    {"cpu-stats", "NAME|UUID", N_("Print the CPU time a domain's QEMU used"), vbctl_cmd_cpu_stats,
     1, 1, cpu_stats_options},
    {"domcontrol", "NAME|UUID", N_("Print what the service is doing with a domain"),
     vbctl_cmd_domcontrol, 1, 1, NULL},
    {"domid", "NAME|UUID", N_("Print a running domain's id"), vbctl_cmd_domid, 1, 1, NULL},
    {"console", "NAME|UUID", N_("Attach to a domain's serial console (leave with Ctrl-])"),
     vbctl_cmd_console, 1, 1, console_options},
    /* issue 13, part console */
    {"vncdisplay", "NAME|UUID", N_("Print a domain's VNC display"), vbctl_cmd_vncdisplay, 1, 1,
     NULL},
    {"domdisplay", "NAME|UUID", N_("Print the URI of a domain's display"), vbctl_cmd_domdisplay,
     1, 1, domdisplay_options},
    {"display-stream", "NAME|UUID",
     N_("Connect standard input and output to a domain's display server"),
     vbctl_cmd_display_stream, 1, 1, display_stream_options},
    {"screenshot", "NAME|UUID [FILE]", N_("Save a PNG of a domain's screen"),
     vbctl_cmd_screenshot, 1, 2, screenshot_options},
    {"send-key", "NAME|UUID KEY...", N_("Send keys to a domain's keyboard"), vbctl_cmd_send_key,
     2, 17, send_key_options},
    {"inject-nmi", "NAME|UUID", N_("Inject a non-maskable interrupt into a domain"),
     vbctl_cmd_inject_nmi, 1, 1, NULL},
    /* issue 13, part hotplug */
    {"attach-device", "NAME|UUID FILE", N_("Attach a device from an XML file (- for stdin)"),
     vbctl_cmd_attach_device, 2, 2, device_options},
    {"detach-device", "NAME|UUID FILE", N_("Detach the device an XML file names"),
     vbctl_cmd_detach_device, 2, 2, device_options},
    {"detach-device-alias", "NAME|UUID ALIAS", N_("Detach a device by its alias"),
     vbctl_cmd_detach_device_alias, 2, 2, device_options},
    {"update-device", "NAME|UUID FILE", N_("Change a device (a cdrom's medium) from an XML file"),
     vbctl_cmd_update_device, 2, 2, update_device_options},
    {"change-media", "NAME|UUID PATH [SOURCE]",
     N_("Eject, insert or change a cdrom's or floppy's medium"), vbctl_cmd_change_media, 2, 3,
     change_media_options},
    {"desc", "NAME|UUID [TEXT...]", N_("Print or set a domain's description or title"),
     vbctl_cmd_desc, 1, 64, desc_options},
    {"metadata", "NAME|UUID URI", N_("Print, set or remove a domain's metadata element"),
     vbctl_cmd_metadata, 2, 2, metadata_options},
    {"event", "[NAME|UUID]", N_("Print domain events as they happen"), vbctl_cmd_event,
     0, 1, event_options},
    /* memory (issue 13, part memev) */
    {"setmem", "NAME|UUID SIZE", N_("Change a domain's current memory (KiB unless a unit)"),
     vbctl_cmd_setmem, 2, 2, setmem_options},
    {"setmaxmem", "NAME|UUID SIZE", N_("Change a domain's maximum memory (KiB unless a unit)"),
     vbctl_cmd_setmaxmem, 2, 2, setmaxmem_options},
    {"setvcpus", "NAME|UUID COUNT", N_("Change a domain's vCPU count (plugs vCPUs live)"),
     vbctl_cmd_setvcpus, 2, 2, setvcpus_options},
    {"vcpupin", "NAME|UUID [VCPU [CPULIST]]", N_("Print or change the host CPUs of vCPUs"),
     vbctl_cmd_vcpupin, 1, 3, pin_options},
    {"iothreadpin", "NAME|UUID IOTHREAD CPULIST", N_("Change the host CPUs of an iothread"),
     vbctl_cmd_iothreadpin, 3, 3, pin_options},
    /* issue 13, part vcpuio */
    {"vcpucount", "NAME|UUID", N_("Print a domain's vCPU counts"), vbctl_cmd_vcpucount, 1, 1,
     vcpucount_options},
    {"iothreadinfo", "NAME|UUID", N_("Print a domain's IOThreads and their host CPUs"),
     vbctl_cmd_iothreadinfo, 1, 1, pin_options},
    {"iothreadadd", "NAME|UUID ID", N_("Add an IOThread"), vbctl_cmd_iothreadadd, 2, 2,
     pin_options},
    {"iothreaddel", "NAME|UUID ID", N_("Remove an IOThread"), vbctl_cmd_iothreaddel, 2, 2,
     pin_options},
    {"emulatorpin", "NAME|UUID [CPULIST]",
     N_("Print or change the host CPUs of QEMU's emulator threads"), vbctl_cmd_emulatorpin, 1,
     2, pin_options},
    {"perf", "NAME|UUID", N_("Print or change a domain's perf events"), vbctl_cmd_perf, 1, 1,
     perf_options},
    /* resource tuning (issue 14, part cgroup) */
    {"memtune", "NAME|UUID [PARAM=VALUE...]",
     N_("Print or change memory limits (hard_limit, soft_limit, swap_hard_limit, "
        "min_guarantee; KiB)"), vbctl_cmd_memtune, 1, 16, tune_options},
    {"schedinfo", "NAME|UUID [PARAM=VALUE...]",
     N_("Print or change CPU shares, periods and quotas (cpu_shares, global_quota, ...)"),
     vbctl_cmd_schedinfo, 1, 16, tune_options},
    {"blkiotune", "NAME|UUID [PARAM=VALUE...]",
     N_("Print or change I/O weight and device limits (weight, device_weight, ...)"),
     vbctl_cmd_blkiotune, 1, 16, tune_options},
    {"qemu-monitor-command", "NAME|UUID JSON", N_("Send a raw QMP command to a domain's QEMU"),
     vbctl_cmd_qemu_monitor_command, 2, 2, monitor_options},
    /* the guest agent (issue 13, part agent) */
    {"domfsfreeze", "NAME|UUID [MOUNTPOINT...]", N_("Freeze the guest's file systems"),
     vbctl_cmd_domfsfreeze, 1, 64, NULL},
    {"domfsthaw", "NAME|UUID", N_("Thaw the guest's file systems"), vbctl_cmd_domfsthaw, 1, 1,
     NULL},
    {"domfsinfo", "NAME|UUID", N_("List the guest's mounted file systems"), vbctl_cmd_domfsinfo,
     1, 1, NULL},
    {"domtime", "NAME|UUID", N_("Print or set the guest's clock"), vbctl_cmd_domtime, 1, 1,
     domtime_options},
    {"domhostname", "NAME|UUID", N_("Print the guest's host name"), vbctl_cmd_domhostname, 1, 1,
     domhostname_options},
    {"guestinfo", "NAME|UUID", N_("Print what the guest agent reports"), vbctl_cmd_guestinfo, 1,
     1, guestinfo_options},
    {"set-user-password", "NAME|UUID USER PASSWORD", N_("Set a guest user's password"),
     vbctl_cmd_set_user_password, 3, 3, set_user_password_options},
    {"qemu-agent-command", "NAME|UUID JSON", N_("Send a raw command to the guest agent"),
     vbctl_cmd_qemu_agent_command, 2, 2, agent_command_options},
    /* guest calls (issue 13, part guest2) */
    {"domfstrim", "NAME|UUID", N_("Discard the unused blocks of the guest's file systems"),
     vbctl_cmd_domfstrim, 1, 1, domfstrim_options},
    {"guestvcpus", "NAME|UUID", N_("Print or change the guest's online vCPUs (agent)"),
     vbctl_cmd_guestvcpus, 1, 1, guestvcpus_options},
    {"dompmsuspend", "NAME|UUID TARGET", N_("Suspend the guest to mem, disk or hybrid (agent)"),
     vbctl_cmd_dompmsuspend, 2, 2, dompmsuspend_options},
    {"dompmwakeup", "NAME|UUID", N_("Wake a guest up from its suspend"), vbctl_cmd_dompmwakeup,
     1, 1, NULL},
    {"domblkerror", "NAME|UUID", N_("Print the disks with an I/O error"), vbctl_cmd_domblkerror,
     1, 1, NULL},
    {"domrename", "NAME|UUID NEW_NAME", N_("Rename an inactive domain"), vbctl_cmd_domrename, 2,
     2, NULL},
    /* snapshots (issue 15, part snapbus) */
    {"snapshot-create-as", "NAME|UUID [SNAPSHOT]", N_("Take a snapshot of a domain"),
     vbctl_cmd_snapshot_create_as, 1, 2, snapshot_create_as_options},
    {"snapshot-create", "NAME|UUID FILE", N_("Take or redefine a snapshot from an XML file"),
     vbctl_cmd_snapshot_create, 2, 2, snapshot_create_options},
    {"snapshot-list", "NAME|UUID", N_("List a domain's snapshots"), vbctl_cmd_snapshot_list, 1,
     1, snapshot_list_options},
    {"snapshot-info", "NAME|UUID SNAPSHOT", N_("Print what is known of a snapshot"),
     vbctl_cmd_snapshot_info, 2, 2, NULL},
    {"snapshot-dumpxml", "NAME|UUID SNAPSHOT", N_("Print a snapshot's XML"),
     vbctl_cmd_snapshot_dumpxml, 2, 2, snapshot_dumpxml_options},
    {"snapshot-revert", "NAME|UUID SNAPSHOT", N_("Revert a domain to a snapshot"),
     vbctl_cmd_snapshot_revert, 2, 2, snapshot_revert_options},
    {"snapshot-delete", "NAME|UUID SNAPSHOT", N_("Delete a snapshot"), vbctl_cmd_snapshot_delete,
     2, 2, snapshot_delete_options},
    {"snapshot-current", "NAME|UUID", N_("Print the current snapshot's XML"),
     vbctl_cmd_snapshot_current, 1, 1, snapshot_current_options},
    {"net-list", "", N_("List virtual networks"), vbctl_cmd_net_list, 0, 0, net_list_options},
    {"net-define", "FILE", N_("Define or update a network from an XML file ('-' for stdin)"),
     vbctl_cmd_net_define, 1, 1, NULL},
    {"net-undefine", "NAME|UUID", N_("Remove a network's definition"), vbctl_cmd_net_undefine, 1,
     1, NULL},
    {"net-start", "NAME|UUID", N_("Start a defined network"), vbctl_cmd_net_start, 1, 1, NULL},
    {"net-destroy", "NAME|UUID", N_("Stop a network"), vbctl_cmd_net_destroy, 1, 1, NULL},
    {"net-dumpxml", "NAME|UUID", N_("Print a network's XML"), vbctl_cmd_net_dumpxml, 1, 1,
     net_dumpxml_options},
    {"net-info", "NAME|UUID", N_("Show a network's state"), vbctl_cmd_net_info, 1, 1, NULL},
    {"net-autostart", "NAME|UUID", N_("Start a network with the service, or not"),
     vbctl_cmd_net_autostart, 1, 1, net_autostart_options},
    {"net-dhcp-leases", "NAME|UUID", N_("Print a network's DHCP leases"),
     vbctl_cmd_net_dhcp_leases, 1, 1, net_dhcp_leases_options},
    {"capabilities", "", N_("Print the host's capabilities XML"), vbctl_cmd_capabilities, 0, 0,
     NULL},
    {"version", "", N_("Print the client's and the service's versions"), vbctl_cmd_version, 0, 0,
     NULL, TRUE},
    {"help", "[COMMAND]", N_("Show help on all commands or one"), cmd_help, 0, 1, NULL},
    /* run by the source service through ssh on the destination (docs/migration.md) */
    {"migrate-tunnel-attach", "DOMAIN_PATH TOKEN",
     N_("Internal: hand stdin to a tunnelled incoming migration, wait for its end"),
     vbctl_cmd_migrate_tunnel_attach, 2, 2, NULL, FALSE, TRUE},
};

static const VbctlCommand *
find_command(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
        if (g_strcmp0(commands[i].name, name) == 0)
            return &commands[i];
    }
    return NULL;
}

static char *
usage_line(const VbctlCommand *cmd)
{
    GString *s = g_string_new(cmd->name);

    for (const VbctlOption *o = cmd->options; o != NULL && o->long_name != NULL; o++) {
        if (o->hidden)
            continue;
        if (o->arg_name != NULL)
            g_string_append_printf(s, " [--%s %s]", o->long_name, o->arg_name);
        else
            g_string_append_printf(s, " [--%s]", o->long_name);
    }
    if (*cmd->params != '\0')
        g_string_append_printf(s, " %s", cmd->params);
    return g_string_free(s, FALSE);
}

static void
print_usage(void)
{
    g_print(_("Usage: virtbusctl [--system|--session|--address ADDRESS] COMMAND [ARGS...]\n"
              "       virtbusctl -H [USER@]HOST[:PORT] [--address ADDRESS] COMMAND [ARGS...]\n"
              "       virtbusctl -c URI COMMAND [ARGS...]\n"
              "       virtbusctl --version\n\n"));
    g_print(_("Manage virtual machines of the virtbus service (%s).\n\n"), VBCTL_BUS_NAME);
    g_print(_("Commands:\n"));
    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
        if (!commands[i].hidden)
            g_print("  %-21s %s\n", commands[i].name, _(commands[i].summary));
    }
    g_print(_("\nBus options (the default is the system bus, or $%s when set):\n"),
            VBCTL_ADDRESS_ENV);
    g_print("  --system            %s\n", _("Connect to the system bus"));
    g_print("  --session           %s\n", _("Connect to the session bus"));
    g_print("  --address ADDRESS   %s\n",
            _("Connect to the bus at ADDRESS (with -H: on that host)"));
    g_print("  -H, --host [USER@]HOST[:PORT]\n"
            "                      %s\n",
            _("Connect to the service on HOST over ssh (its system bus)"));
    g_print("  -c, --connect URI   %s\n",
            _("Connect to ssh://[USER@]HOST[:PORT][?bus=ADDRESS&keyfile=FILE&known_hosts=FILE"
              "&no_verify=1] or a bus address unix:path=PATH"));
    g_print("  --ssh-config FILE   %s\n", _("Give FILE to ssh as its configuration (ssh -F)"));
    g_print(_("\nOther options:\n"));
    g_print("  --version           %s\n", _("Print the client's version and exit"));
    g_print("  -h, --help          %s\n", _("Show this help and exit"));
    g_print(_("\nRun 'virtbusctl help COMMAND' for a command's options.\n"));
}

static void
print_command_help(const VbctlCommand *cmd)
{
    g_autofree char *usage = usage_line(cmd);

    g_print(_("Usage: virtbusctl %s\n\n%s\n"), usage, _(cmd->summary));
    if (cmd->options == NULL)
        return;
    g_print(_("\nOptions:\n"));
    for (const VbctlOption *o = cmd->options; o->long_name != NULL; o++) {
        g_autofree char *spec = NULL;

        if (o->hidden)
            continue;
        spec = o->arg_name != NULL ? g_strdup_printf("%s %s", o->long_name, o->arg_name)
                                   : g_strdup(o->long_name);
        g_print("  --%-18s %s\n", spec, _(o->description));
    }
}

static gboolean
cmd_help(VbctlContext *ctx, GError **error)
{
    const VbctlCommand *cmd;

    if (ctx->n_args == 0) {
        print_usage();
        return TRUE;
    }
    cmd = find_command(ctx->args[0]);
    if (cmd == NULL) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, _("unknown command '%s'"),
                    ctx->args[0]);
        return FALSE;
    }
    print_command_help(cmd);
    return TRUE;
}

static void
add_bus_options(GOptionContext *octx, VbctlBusOptions *bus)
{
    const GOptionEntry entries[] = {
        {"system", 0, 0, G_OPTION_ARG_NONE, &bus->system, N_("Connect to the system bus"), NULL},
        {"session", 0, 0, G_OPTION_ARG_NONE, &bus->session, N_("Connect to the session bus"), NULL},
        {"address", 0, 0, G_OPTION_ARG_STRING, &bus->address, N_("Connect to the bus at ADDRESS"),
         "ADDRESS"},
        {"host", 'H', 0, G_OPTION_ARG_STRING, &bus->host,
         N_("Connect to the service on HOST over ssh"), "[USER@]HOST[:PORT]"},
        {"connect", 'c', 0, G_OPTION_ARG_STRING, &bus->uri,
         N_("Connect to URI (ssh://[USER@]HOST[:PORT][?bus=ADDRESS] or a bus address)"), "URI"},
        {"ssh-config", 0, 0, G_OPTION_ARG_FILENAME, &bus->ssh_config,
         N_("Give FILE to ssh as its configuration (ssh -F)"), "FILE"},
        {NULL},
    };

    g_option_context_add_main_entries(octx, entries, GETTEXT_PACKAGE);
}

/* Parses a command's options and arguments; argv[0] is the command name. */
static gboolean
parse_command(const VbctlCommand *cmd, int argc, char **argv, VbctlContext *ctx,
              VbctlBusOptions *bus, GError **error)
{
    g_autofree char *usage = usage_line(cmd);
    g_autoptr(GOptionContext) octx = g_option_context_new(usage);
    g_autoptr(GArray) entries = g_array_new(TRUE, TRUE, sizeof(GOptionEntry));
    guint n_args;

    for (const VbctlOption *o = cmd->options; o != NULL && o->long_name != NULL; o++) {
        GOptionEntry e = {o->long_name,
                          0,
                          o->hidden ? G_OPTION_FLAG_HIDDEN : 0,
                          o->arg_name != NULL ? o->arg : G_OPTION_ARG_NONE,
                          (char *)&ctx->flags + o->offset,
                          o->description,
                          o->arg_name};
        g_array_append_val(entries, e);
    }
    g_option_context_set_summary(octx, _(cmd->summary));
    g_option_context_add_main_entries(octx, (GOptionEntry *)entries->data, GETTEXT_PACKAGE);
    add_bus_options(octx, bus);
    ctx->flags.timeout = -1;
    ctx->flags.stats_period = -1;
    ctx->flags.display_index = -1;
    if (!g_option_context_parse(octx, &argc, &argv, error))
        return FALSE;
    if (ctx->flags.timeout == 0 || ctx->flags.timeout < -1) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("--timeout needs a positive number of seconds"));
        return FALSE;
    }
    if (ctx->flags.persistent && ctx->flags.transient) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("--persistent and --transient exclude each other"));
        return FALSE;
    }
    if (vbctl_ifaddr_source_from_string(ctx->flags.ifaddr_source) < 0) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("unknown --source '%s': use lease, agent or arp"),
                    ctx->flags.ifaddr_source);
        return FALSE;
    }
    if (ctx->flags.stats_period < -1) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("--period needs a number of seconds (0 turns the statistics off)"));
        return FALSE;
    }
    if (ctx->flags.running && ctx->flags.paused) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("--running and --paused exclude each other"));
        return FALSE;
    }
    n_args = argc - 1;
    if (n_args < cmd->min_args || n_args > cmd->max_args) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    n_args < cmd->min_args ? _("'%s' needs %s") : _("too many arguments to '%s'"),
                    cmd->name, cmd->params);
        return FALSE;
    }
    ctx->args = g_strdupv(argv + 1);
    ctx->n_args = n_args;
    return vbctl_migrate_check_args(cmd->name, ctx, error);
}

static int
usage_error(const char *hint_command, const char *message)
{
    g_printerr(_("error: %s\n"), message);
    if (hint_command != NULL)
        g_printerr(_("Try 'virtbusctl help %s'.\n"), hint_command);
    else
        g_printerr(_("Try 'virtbusctl help'.\n"));
    return VBCTL_EXIT_USAGE;
}

static int
run_error(GError *error)
{
    if (g_dbus_error_is_remote_error(error))
        g_dbus_error_strip_remote_error(error);
    g_printerr(_("error: %s\n"), error->message);
    return VBCTL_EXIT_FAILURE;
}

/* -H HOST [--address A] is ssh://HOST[?bus=A] */
static char *
remote_uri(const VbctlBusOptions *bus)
{
    g_autofree char *escaped = NULL;

    if (bus->uri != NULL)
        return g_strdup(bus->uri);
    if (bus->address == NULL)
        return g_strconcat("ssh://", bus->host, NULL);
    escaped = g_uri_escape_string(bus->address, "/:=,", FALSE);
    return g_strconcat("ssh://", bus->host, "?bus=", escaped, NULL);
}

static gboolean
connect_remote(VbctlContext *ctx, const VbctlBusOptions *bus, GError **error)
{
    /* the user's own ssh: keys and host checks of the user's choosing; ssh
     * ends with this process (the main thread) */
    const VbRemoteOptions opts = {
        .trusted = TRUE,
        .ssh_config = bus->ssh_config,
        .die_with_caller = TRUE,
    };
    g_autofree char *uri = remote_uri(bus);
    g_autoptr(VbRemoteUri) parsed = vb_remote_uri_parse(uri, TRUE, error);

    if (parsed == NULL)
        return FALSE;
    ctx->bus_description = vb_remote_uri_display(parsed);
    ctx->connection = vb_remote_connect(uri, &opts, NULL, error);
    ctx->remote = ctx->connection != NULL && parsed->kind == VB_REMOTE_URI_SSH;
    return ctx->connection != NULL;
}

static gboolean
connect_context(VbctlContext *ctx, const VbctlBusOptions *bus, GError **error)
{
    const char *address = bus->address;

    if (bus->host != NULL || bus->uri != NULL)
        return connect_remote(ctx, bus, error);
    gboolean from_env = FALSE;

    if (!bus->system && !bus->session && address == NULL) {
        address = g_getenv(VBCTL_ADDRESS_ENV);
        from_env = TRUE;
    }
    if (address != NULL && *address == '\0')
        address = NULL;
    if (address != NULL && from_env)
        ctx->bus_description =
            g_strdup_printf(_("the bus at %s (from $%s)"), address, VBCTL_ADDRESS_ENV);
    else if (address != NULL)
        ctx->bus_description = g_strdup_printf(_("the bus at %s"), address);
    else if (bus->session)
        ctx->bus_description = g_strdup(_("the session bus"));
    else
        ctx->bus_description = g_strdup(_("the system bus"));
    ctx->connection = vbctl_connect(bus->session, address, ctx->bus_description, error);
    return ctx->connection != NULL;
}

static void
context_clear(VbctlContext *ctx)
{
    g_clear_object(&ctx->manager);
    /* ssh ends cleanly (the remote bridge sees the end of its input) */
    if (ctx->remote)
        vb_remote_close(ctx->connection);
    g_clear_object(&ctx->connection);
    g_clear_pointer(&ctx->bus_description, g_free);
    g_clear_error(&ctx->bus_error);
    g_clear_pointer(&ctx->args, g_strfreev);
    g_clear_pointer(&ctx->flags.xml_file, g_free);
    g_clear_pointer(&ctx->flags.mac, g_free);
    g_clear_pointer(&ctx->flags.ifaddr_source, g_free);
    g_clear_pointer(&ctx->flags.agent.mode, g_free);
    g_clear_pointer(&ctx->flags.agent.source, g_free);
    g_clear_pointer(&ctx->flags.agent.time, g_free);
    g_clear_pointer(&ctx->flags.ifaddr_interface, g_free);
    g_clear_pointer(&ctx->flags.console_devname, g_free);
    g_clear_pointer(&ctx->flags.key_codeset, g_free);
    g_clear_pointer(&ctx->flags.display_type, g_free);
    g_clear_pointer(&ctx->flags.meta_key, g_free);
    g_clear_pointer(&ctx->flags.perf_enable, g_free); /* issue 13, part vcpuio */
    g_clear_pointer(&ctx->flags.perf_disable, g_free);
    g_clear_pointer(&ctx->flags.meta_set, g_free);
    vbctl_migrate_flags_clear(&ctx->flags.migrate);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VbctlContext, context_clear)

static gboolean
check_bus_options(const VbctlBusOptions *bus, GError **error)
{
    const char *msg = NULL;

    if (bus->host != NULL && bus->uri != NULL)
        msg = _("-H and --connect exclude each other");
    else if ((bus->host != NULL || bus->uri != NULL) && (bus->system || bus->session))
        msg = _("-H and --connect exclude --system and --session (the remote system bus is the "
                "default; name another with --address or ?bus=ADDRESS)");
    else if (bus->uri != NULL && bus->address != NULL)
        msg = _("--connect excludes --address: put the remote bus in the URI (?bus=ADDRESS)");
    else if (bus->ssh_config != NULL && bus->host == NULL && bus->uri == NULL)
        msg = _("--ssh-config needs -H or --connect");
    else if ((bus->system + bus->session + (bus->address != NULL)) > 1)
        msg = _("--system, --session and --address exclude each other");
    if (msg == NULL)
        return TRUE;
    g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, msg);
    return FALSE;
}

/* The strings GOption parsed into @cmd's option fields: they are ours to free (also those
 * no clear function names; the clear functions set what they free to NULL). */
static void
free_option_strings(const VbctlCommand *cmd, VbctlContext *ctx)
{
    for (const VbctlOption *o = cmd->options; o != NULL && o->long_name != NULL; o++) {
        if (o->arg_name != NULL &&
            (o->arg == G_OPTION_ARG_STRING || o->arg == G_OPTION_ARG_FILENAME))
            g_clear_pointer((char **)((char *)&ctx->flags + o->offset), g_free);
    }
}

static int
run_command_in(const VbctlCommand *cmd, int argc, char **argv, VbctlBusOptions *bus,
               VbctlContext *ctx)
{
    g_autoptr(GError) error = NULL;

    if (!parse_command(cmd, argc, argv, ctx, bus, &error))
        return usage_error(cmd->name, error->message);
    if (!check_bus_options(bus, &error))
        return usage_error(NULL, error->message);
    if (cmd->func == cmd_help) {
        if (!cmd_help(ctx, &error))
            return usage_error(NULL, error->message);
        return 0;
    }
    if (!connect_context(ctx, bus, &error)) {
        if (!cmd->bus_optional)
            return run_error(error);
        ctx->bus_error = g_steal_pointer(&error);
    }
    if (!cmd->func(ctx, &error))
        return run_error(error);
    return 0;
}

static int
run_command(const VbctlCommand *cmd, int argc, char **argv, VbctlBusOptions *bus)
{
    g_auto(VbctlContext) ctx = {0};
    int rc = run_command_in(cmd, argc, argv, bus, &ctx);

    free_option_strings(cmd, &ctx);
    return rc;
}

static void
bus_options_clear(VbctlBusOptions *bus)
{
    g_clear_pointer(&bus->address, g_free);
    g_clear_pointer(&bus->host, g_free);
    g_clear_pointer(&bus->uri, g_free);
    g_clear_pointer(&bus->ssh_config, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VbctlBusOptions, bus_options_clear)

int
main(int argc, char **argv)
{
    g_auto(VbctlBusOptions) bus = {0};
    gboolean opt_help = FALSE;
    gboolean opt_version = FALSE;
    const GOptionEntry help_entry[] = {
        {"help", 'h', 0, G_OPTION_ARG_NONE, &opt_help, N_("Show help"), NULL},
        {"version", 0, 0, G_OPTION_ARG_NONE, &opt_version, N_("Print the client's version"),
         NULL},
        {NULL},
    };
    g_autoptr(GOptionContext) octx = g_option_context_new(NULL);
    g_autoptr(GError) error = NULL;
    const VbctlCommand *cmd;
    int rc;

    setlocale(LC_ALL, "");
    bindtextdomain(GETTEXT_PACKAGE, LOCALEDIR);
    bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
    textdomain(GETTEXT_PACKAGE);
    g_set_prgname("virtbusctl");
    vb_bus_errors_register();

    /* Global options stop at the command; the rest is the command's. */
    g_option_context_set_strict_posix(octx, TRUE);
    g_option_context_set_help_enabled(octx, FALSE);
    g_option_context_add_main_entries(octx, help_entry, GETTEXT_PACKAGE);
    add_bus_options(octx, &bus);
    if (!g_option_context_parse(octx, &argc, &argv, &error))
        return usage_error(NULL, error->message);
    if (opt_help) {
        print_usage();
        return 0;
    }
    if (opt_version) {
        /* the client's own version: no bus, no service needed */
        g_print("virtbusctl %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (argc < 2)
        return usage_error(NULL, _("no command given"));
    cmd = find_command(argv[1]);
    if (cmd == NULL) {
        g_autofree char *msg = g_strdup_printf(_("unknown command '%s'"), argv[1]);

        return usage_error(NULL, msg);
    }
    rc = run_command(cmd, argc - 1, argv + 1, &bus);
    return rc;
}
