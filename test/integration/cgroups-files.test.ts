/**
 * The cgroup file protocol (node/execution/confine/cgroups.ts) against a
 * cgroup file system laid out in a folder: which version a machine's
 * mountinfo and /proc/self/cgroup lead to, and what an attempt's group writes
 * and reads. This machine and CI have only v1 controllers (the confine tests
 * use them for real); v2 is checked here, file by file, as the kernel
 * documents it (Documentation/admin-guide/cgroup-v2.rst).
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { detectCgroups } from '../../node/execution/confine/cgroups.ts'

let root: string
afterEach(async () => { await rm(root, { recursive: true, force: true }) })

/** A fake /proc/self with the given mountinfo lines and cgroup membership. */
async function fakeProc (mounts: string[], cgroup: string[]): Promise<string> {
  const proc = join(root, 'proc')
  await mkdir(join(proc, 'self'), { recursive: true })
  await writeFile(join(proc, 'self', 'mountinfo'), mounts.join('\n') + '\n')
  await writeFile(join(proc, 'self', 'cgroup'), cgroup.join('\n') + '\n')
  return proc
}

describe('cgroup v2', () => {
  it('is chosen when its group offers memory, cpu and pids, and an attempt gets max files and counters', async () => {
    root = await mkdtemp(join(tmpdir(), 'meshwork-cgfs-'))
    const fs = join(root, 'cg2')
    const own = join(fs, 'user.slice', 'meshwork.service')
    await mkdir(own, { recursive: true })
    await writeFile(join(own, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n')
    const proc = await fakeProc([`35 24 0:30 / ${fs} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate`], ['0::/user.slice/meshwork.service'])
    const cg = await detectCgroups({ proc, pid: 4242 })
    if ('why' in cg) throw new Error(cg.why)
    expect(cg.mode).toBe('cgroup-v2')
    const mine = join(own, (await readdir(own)).find(n => n.startsWith('meshwork-4242-'))!)
    expect(await readFile(join(own, 'cgroup.subtree_control'), 'utf8')).toBe('+memory +cpu +pids')
    expect(await readFile(join(mine, 'cgroup.subtree_control'), 'utf8')).toBe('+memory +cpu +pids')

    const group = await cg.create('attempt1', { memoryMB: 256, cpu: 1.5, pids: 64 })
    const dir = join(mine, 'attempt1')
    expect(group.procsFiles).toEqual([join(dir, 'cgroup.procs')])
    expect(await readFile(join(dir, 'memory.max'), 'utf8')).toBe(String(256 * 1024 * 1024))
    expect(await readFile(join(dir, 'memory.swap.max'), 'utf8')).toBe('0')
    expect(await readFile(join(dir, 'cpu.max'), 'utf8')).toBe('150000 100000')
    expect(await readFile(join(dir, 'pids.max'), 'utf8')).toBe('64')
    expect(await group.hits()).toEqual({ memory: false, pids: false })
    await writeFile(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 1\noom_group_kill 0\n')
    expect(await group.hits()).toEqual({ memory: 'peer', pids: false })
    await writeFile(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n')
    await writeFile(join(dir, 'pids.events'), 'max 3\n')
    expect(await group.hits()).toEqual({ memory: 'own', pids: true })
    await group.kill()
    expect(await readFile(join(dir, 'cgroup.kill'), 'utf8')).toBe('1')
  })

  it('falls back to v1 when the v2 mount lacks the controllers (a hybrid machine like this one)', async () => {
    root = await mkdtemp(join(tmpdir(), 'meshwork-cgfs-'))
    const base = join(root, 'sys')
    for (const c of ['memory', 'cpu', 'pids', 'unified']) await mkdir(join(base, c), { recursive: true })
    await writeFile(join(base, 'unified', 'cgroup.controllers'), 'hugetlb\n')
    await mkdir(join(base, 'memory', 'job'), { recursive: true })
    const proc = await fakeProc([
      `32 31 0:29 / ${base}/cpu rw,relatime - cgroup cgroup rw,cpu,cpuacct`,
      `35 31 0:32 / ${base}/memory rw,relatime - cgroup cgroup rw,memory`,
      `39 31 0:36 / ${base}/pids rw,relatime - cgroup cgroup rw,pids`,
      `41 31 0:38 / ${base}/unified rw,relatime - cgroup2 cgroup2 rw`
    ], ['8:pids:/', '4:memory:/job', '1:cpu,cpuacct:/', '0::/'])
    const cg = await detectCgroups({ proc, pid: 4343 })
    if ('why' in cg) throw new Error(cg.why)
    expect(cg.mode).toBe('cgroup-v1')
    const group = await cg.create('a', { memoryMB: 100, cpu: 0.5, pids: 32 })
    expect(group.procsFiles.map(f => f.slice(base.length))).toEqual([
      expect.stringMatching(/^\/memory\/job\/meshwork-4343-\d+\/a\/cgroup\.procs$/),
      expect.stringMatching(/^\/cpu\/meshwork-4343-\d+\/a\/cgroup\.procs$/),
      expect.stringMatching(/^\/pids\/meshwork-4343-\d+\/a\/cgroup\.procs$/)
    ])
    const memDir = group.procsFiles[0]!.replace(/cgroup\.procs$/, '')
    expect(await readFile(join(memDir, 'memory.limit_in_bytes'), 'utf8')).toBe(String(100 * 1024 * 1024))
    expect(await readFile(join(group.procsFiles[1]!.replace(/cgroup\.procs$/, ''), 'cpu.cfs_quota_us'), 'utf8')).toBe('50000')
    expect(await readFile(join(group.procsFiles[2]!.replace(/cgroup\.procs$/, ''), 'pids.max'), 'utf8')).toBe('32')
    await writeFile(join(memDir, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n')
    await writeFile(join(memDir, 'memory.max_usage_in_bytes'), String(60 * 1024 * 1024))
    expect(await group.hits()).toEqual({ memory: 'peer', pids: false })
    await writeFile(join(memDir, 'memory.max_usage_in_bytes'), String(100 * 1024 * 1024))
    expect(await group.hits()).toEqual({ memory: 'own', pids: false })
  })

  it('says why when no cgroup can be used', async () => {
    root = await mkdtemp(join(tmpdir(), 'meshwork-cgfs-'))
    const proc = await fakeProc([`41 31 0:38 / ${root}/unified rw,relatime - cgroup2 cgroup2 rw`], ['0::/'])
    await mkdir(join(root, 'unified'))
    await writeFile(join(root, 'unified', 'cgroup.controllers'), 'hugetlb\n')
    const cg = await detectCgroups({ proc, pid: 1 })
    expect(cg).toEqual({ why: `no cgroup v1 memory hierarchy and cgroup v2 at ${root}/unified lacks the memory, cpu, pids controllers` })
  })
})
