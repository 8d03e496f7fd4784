/**
 * The bubblewrap command line that confines one exec attempt
 * (docs/ARCHITECTURE.md §8, "Sandbox"). What the task sees:
 *  - the system read-only: /usr, /etc, /opt and the /bin, /sbin, /lib* links
 *    or directories, plus the allowed programs and `executor.exec.readOnlyPaths`;
 *  - its scratch directory (at its own path) as the only writable place, and
 *    a private /tmp in memory (a tmpfs of at most `tmpBytes`, charged to the
 *    attempt's memory cgroup);
 *  - its artifacts, each bound read-only over its name in the scratch;
 *  - a minimal /dev, plus the device nodes of the GPUs it holds;
 *  - new PID, IPC, UTS and cgroup namespaces, and a new network namespace (only
 *    loopback, its own) unless the peer allows the network and the task asks;
 *  - folders the operator shares writable (`executor.exec.writablePaths`);
 *  - nothing else: not the home directory, not the daemon's data directory,
 *    key, journal, artifact cache or control token (those under a visible path
 *    are masked).
 * As root, the program runs as an unprivileged uid with no capabilities
 * (setpriv), so DAC keeps it out of root's files in the visible tree.
 */
import { lstatSync, readlinkSync, statSync } from 'node:fs'
import { dirname, join, sep } from 'node:path'

/** Top-level system paths shown read-only: a symlink is recreated, a directory bound. */
const SYSTEM_PATHS = ['/usr', '/etc', '/opt', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']
/** Control nodes a CUDA or ROCm program needs besides its own devices. */
const GPU_CONTROL_NODES = ['nvidiactl', 'nvidia-uvm', 'nvidia-uvm-tools', 'nvidia-modeset', 'kfd']

export interface SandboxPlan {
  /** The attempt's scratch directory: writable, at the same path inside. */
  scratch: string
  /** The size of the private /tmp (a tmpfs). */
  tmpBytes: number
  /** Scratch-relative name → read-only host file. */
  artifacts: Record<string, string>
  /** Device nodes of the GPUs the attempt holds, relative to `devDir` (`nvidia3`, `dri/renderD131`). */
  devices: string[]
  /** Where those nodes are on the host (`/dev`; a folder of fake nodes in tests). */
  devDir?: string
  /** Share the peer's network (the peer allows it and the task asked). */
  network: boolean
  /** More host paths shown read-only at the same path (allowed programs, readOnlyPaths). */
  readOnly: string[]
  /** Host paths shown writable at the same path (writablePaths): the operator's choice to share. */
  writable: string[]
  /** Host paths never shown (the daemon's data directory, key, cache, config). */
  hide: string[]
  /** As root: the uid and gid the program runs as. */
  runAs?: { uid: number, gid: number }
}

/** The arguments after `bwrap`, up to and including `--`; the program and its argv follow. */
export function bwrapArgs (plan: SandboxPlan, system: readonly SystemPath[]): string[] {
  const args = [
    '--die-with-parent', '--new-session',
    '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--hostname', 'meshwork-task',
    ...(plan.network ? [] : ['--unshare-net'])
  ]
  const visible: string[] = []
  for (const s of system) {
    if (s.link !== undefined) args.push('--symlink', s.link, s.path)
    else { args.push('--ro-bind', s.path, s.path); visible.push(s.path) }
  }
  // The private /tmp before anything bound at a path under the host's /tmp (an allowed program, the
  // scratch directory), which a later tmpfs would hide.
  args.push('--perms', '1777', '--size', String(plan.tmpBytes), '--tmpfs', '/tmp')
  // bubblewrap makes a bind's missing parent folders 0700 root: an unprivileged task could not reach
  // its own scratch directory by its absolute path. Each gets 0755 first.
  const openParents = (path: string): void => {
    for (const d of parentsOf(path)) if (!visible.some(v => under(d, v))) args.push('--perms', '0755', '--dir', d)
  }
  for (const p of plan.readOnly) {
    if (!exists(p) || visible.some(v => under(p, v))) continue
    openParents(p)
    args.push('--ro-bind', p, p)
    visible.push(p)
  }
  for (const h of plan.hide) {
    if (!visible.some(v => under(h, v)) || !exists(h)) continue
    args.push(...(isDir(h) ? ['--tmpfs', h] : ['--ro-bind', '/dev/null', h]))
  }
  args.push('--proc', '/proc', '--dev', '/dev')
  for (const d of plan.devices) args.push('--dev-bind', join(plan.devDir ?? '/dev', d), `/dev/${d}`)
  if (plan.devices.length > 0) {
    for (const n of GPU_CONTROL_NODES) if (exists(`/dev/${n}`)) args.push('--dev-bind', `/dev/${n}`, `/dev/${n}`)
    args.push('--ro-bind', '/sys', '/sys') // drivers read their PCI topology there
  }
  openParents(plan.scratch)
  args.push('--bind', plan.scratch, plan.scratch)
  for (const [rel, file] of Object.entries(plan.artifacts)) args.push('--ro-bind', file, join(plan.scratch, rel))
  for (const p of plan.writable) {
    if (!exists(p)) continue
    openParents(p)
    args.push('--bind', p, p)
  }
  args.push('--chdir', plan.scratch, '--')
  if (plan.runAs !== undefined) {
    const { uid, gid } = plan.runAs
    args.push('/usr/bin/setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--bounding-set=-all', '--inh-caps=-all', '--no-new-privs', '--')
  }
  return args
}

export interface SystemPath { path: string, link?: string }

/** This machine's system paths: which exist, and which are symlinks (merged /usr). */
export function systemView (): SystemPath[] {
  const out: SystemPath[] = []
  for (const path of SYSTEM_PATHS) {
    try {
      const st = lstatSync(path)
      if (st.isSymbolicLink()) out.push({ path, link: readlinkSync(path) })
      else if (st.isDirectory()) out.push({ path })
    } catch { /* not on this machine */ }
  }
  return out
}

/** The device nodes of GPU devices `ids` that exist under `devDir`: `nvidia3`, and `dri/renderD131` for ROCm. */
export function gpuDeviceNodes (ids: readonly string[], devDir = '/dev'): string[] {
  const out: string[] = []
  for (const id of ids) {
    if (!/^\d+$/.test(id)) continue // a UUID names no node; such a card is not shown
    for (const node of [`nvidia${id}`, `dri/renderD${128 + Number(id)}`]) {
      if (exists(join(devDir, node))) out.push(node)
    }
  }
  return out
}

/** `/a/b/c` → `/a`, `/a/b`. */
function parentsOf (path: string): string[] {
  const out: string[] = []
  for (let d = dirname(path); d !== '/' && d !== '.'; d = dirname(d)) out.unshift(d)
  return out
}

function under (path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep)
}

function exists (p: string): boolean {
  try { statSync(p); return true } catch { return false }
}

function isDir (p: string): boolean {
  try { return statSync(p).isDirectory() } catch { return false }
}
