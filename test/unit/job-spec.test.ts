import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { JOB_LIMITS, JobSpecError, parseJobSpec, type ExecTaskSpec, type JobSpec } from '../../src/jobs/spec.ts'
import { countInstances, dependents, expandJob, taskId, topologicalOrder, upstreamFor } from '../../src/jobs/expand.ts'
import { MeshError } from '../../src/errors.ts'

const handler = (extra: Record<string, unknown> = {}) => ({ kind: 'handler', handler: 'h', ...extra })
const exec = (extra: Record<string, unknown> = {}) => ({ kind: 'exec', command: ['echo', 'hi'], ...extra })
const job = (tasks: Record<string, unknown>) => ({ name: 'j', tasks })

/** Parse `raw`, expecting a JobSpecError; returns it. */
function specError (raw: unknown, source?: string): JobSpecError {
  try {
    parseJobSpec(raw, source)
  } catch (err) {
    expect(err).toBeInstanceOf(JobSpecError)
    return err as JobSpecError
  }
  throw new Error('expected the spec to be rejected')
}

/** The README's example job. */
const PI = {
  name: 'pi',
  tasks: {
    sample: { kind: 'handler', handler: 'pi.sample', input: { samples: 1000000 }, count: 32, resources: { cpu: 1, memoryMB: 64 }, retries: 2, estimateMs: 200, priority: 0 },
    reduce: { kind: 'handler', handler: 'pi.reduce', after: ['sample'] },
    plot: {
      kind: 'exec', command: ['python3', 'plot.py', '--part', '{i}'], count: 4, env: { MODE: 'fast' }, stdin: 'optional text', inputs: { 'data.csv': './data/data.csv' },
      outputs: ['out/plot-{i}.png'], timeoutMs: 60000, shell: false, after: ['reduce'], tags: ['site=lab1']
    }
  }
}

const RESOURCE_DEFAULTS = { cpu: 1, memoryMB: 0, gpu: 0, custom: {} }

describe('parseJobSpec accepts valid specs and fills in defaults', () => {
  it('a minimal handler task', () => {
    expect(parseJobSpec(job({ a: handler() })).tasks.a).toEqual({
      kind: 'handler', handler: 'h', input: null, resources: RESOURCE_DEFAULTS, after: [], retries: 0, priority: 0, tags: [], artifacts: {}
    })
  })

  it('a minimal exec task', () => {
    expect(parseJobSpec(job({ a: exec() })).tasks.a).toEqual({
      kind: 'exec', command: ['echo', 'hi'], env: {}, inputs: {}, outputs: [], shell: false, network: false, isolation: 'any', resources: RESOURCE_DEFAULTS, after: [], retries: 0, priority: 0, tags: [], artifacts: {}
    })
  })

  it('the example job, keeping every value given', () => {
    const spec = parseJobSpec(PI)
    expect(spec.name).toBe('pi')
    expect(Object.keys(spec.tasks)).toEqual(['sample', 'reduce', 'plot'])
    expect(spec.tasks.sample).toEqual(expect.objectContaining({ count: 32, input: { samples: 1000000 }, retries: 2, estimateMs: 200, resources: { ...RESOURCE_DEFAULTS, memoryMB: 64 } }))
    expect(spec.tasks.plot).toEqual(expect.objectContaining({ command: ['python3', 'plot.py', '--part', '{i}'], env: { MODE: 'fast' }, stdin: 'optional text', outputs: ['out/plot-{i}.png'], timeoutMs: 60000, after: ['reduce'], tags: ['site=lab1'] }))
  })

  it('artifacts by path (a string or { path }) and by sha-256, and a warm key', () => {
    const h = 'ab'.repeat(32)
    const t = parseJobSpec(job({ a: handler({ warm: 'model:x', artifacts: { 'model.onnx': 'models/m.onnx', tok: { path: '/abs/tok.json' }, data: { sha256: h, size: 5 } } }) })).tasks.a!
    expect(t.artifacts).toEqual({ 'model.onnx': { path: 'models/m.onnx' }, tok: { path: '/abs/tok.json' }, data: { sha256: h, size: 5 } })
    expect(t.kind === 'handler' && t.warm).toBe('model:x')
  })

  it('is idempotent and survives a JSON round trip', () => {
    const spec = parseJobSpec(PI)
    expect(parseJobSpec(JSON.parse(JSON.stringify(spec)))).toEqual(spec)
  })

  const valid: Array<[string, unknown]> = [
    ['fractional CPUs, GPUs and custom resources', handler({ resources: { cpu: 0.25, gpu: 2, custom: { 'licence:matlab': 1, 'fpga.x': 0.5 } } })],
    ['the extremes of every range', handler({ count: JOB_LIMITS.maxInstances, retries: 100, priority: -1000, timeoutMs: 7 * 24 * 3600_000, resources: { cpu: 1024 } })],
    ['any JSON as handler input', handler({ input: { a: [1, 'two', null, true, { b: -0.5 }], s: '{i}' } })],
    ['a string as handler input', handler({ input: 'x' })],
    ['nested relative paths, `./` and `{i}`', exec({ inputs: { 'in/{i}/d.csv': '/abs/on/submitter.csv', './x': 'x' }, outputs: ['out/a-{i}.png', './b', 'dir/'] })],
    ['file names with dots', exec({ outputs: ['..hidden', 'a..b', '.env'] })],
    ['a shell command with stdin', exec({ command: ['echo $X | wc -c'], shell: true, stdin: '', env: { X: '{i}', _y1: '' } })],
    ['task names with . _ -', { 'a.b_c-1': handler() }]
  ]
  it.each(valid)('%s', (_what, task) => {
    const tasks = typeof task === 'object' && task !== null && !('kind' in task) ? task as Record<string, unknown> : { a: task }
    expect(() => parseJobSpec(job(tasks))).not.toThrow()
  })
})

describe('parseJobSpec rejects bad specs, naming the path', () => {
  const tooLong = 'x'.repeat(129)
  /** [what, spec, path, a fragment of the problem] */
  const cases: Array<[string, unknown, string, string | RegExp]> = [
    ['not an object', 'pi', '(root)', 'must be an object'],
    ['an artifact name outside the scratch directory', job({ a: handler({ artifacts: { '../m.onnx': 'm.onnx' } }) }), 'tasks.a.artifacts.../m.onnx', 'must not contain ".." segments'],
    ['an artifact sha that is not one', job({ a: handler({ artifacts: { m: { sha256: 'abc', size: 1 } } }) }), 'tasks.a.artifacts.m.sha256', 'must be a sha-256: 64 lowercase hex digits'],
    ['an artifact as a number', job({ a: handler({ artifacts: { m: 7 } }) }), 'tasks.a.artifacts.m', 'must be a path on the submitting machine, { "path": … }, or { "sha256": …, "size": … }'],
    ['too many artifacts', job({ a: handler({ artifacts: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`m${i}`, 'x'])) }) }), 'tasks.a.artifacts', 'at most 16 artifacts per task'],
    ['an empty warm key', job({ a: handler({ warm: '' }) }), 'tasks.a.warm', 'must not be empty'],
    ['no name', { tasks: { a: handler() } }, 'name', 'required'],
    ['an unknown top-level field', { ...job({ a: handler() }), nmae: 'x' }, 'nmae', 'unknown field (did you mean "name"?)'],
    ['a typo in a task field', job({ a: handler({ afer: [] }) }), 'tasks.a.afer', 'unknown field (did you mean "after"?)'],
    ['an exec field on a handler task', job({ a: handler({ command: ['x'] }) }), 'tasks.a.command', 'unknown field (only "exec" tasks have it)'],
    ['a handler field on an exec task', job({ a: exec({ input: 1 }) }), 'tasks.a.input', 'unknown field (only "handler" tasks have it)'],
    ['an unknown resource', job({ a: handler({ resources: { cpus: 2 } }) }), 'tasks.a.resources.cpus', 'unknown field (did you mean "cpu"?)'],
    ['a wrong kind', job({ a: { kind: 'shell', command: ['x'] } }), 'tasks.a.kind', 'must be "handler" or "exec"'],
    ['a missing kind', job({ a: { handler: 'h' } }), 'tasks.a.kind', 'must be "handler" or "exec"'],
    ['a task that is not an object', job({ a: 'echo' }), 'tasks.a', 'must be an object with a "kind"'],
    ['count 0', job({ a: handler({ count: 0 }) }), 'tasks.a.count', 'must be a whole number from 1 to 100000'],
    ['a fractional count', job({ a: handler({ count: 2.5 }) }), 'tasks.a.count', 'must be a whole number from 1 to 100000'],
    ['a count too large', job({ a: handler({ count: 100_001 }) }), 'tasks.a.count', 'must be a whole number from 1 to 100000'],
    ['a count as a string', job({ a: handler({ count: '4' }) }), 'tasks.a.count', 'must be a whole number from 1 to 100000'],
    ['cpu 0', job({ a: handler({ resources: { cpu: 0 } }) }), 'tasks.a.resources.cpu', 'must be > 0'],
    ['negative cpu', job({ a: handler({ resources: { cpu: -1 } }) }), 'tasks.a.resources.cpu', 'must be > 0'],
    ['absurd cpu', job({ a: handler({ resources: { cpu: 5000 } }) }), 'tasks.a.resources.cpu', 'at most 1024'],
    ['fractional memory', job({ a: handler({ resources: { memoryMB: 1.5 } }) }), 'tasks.a.resources.memoryMB', 'whole number'],
    ['negative memory', job({ a: handler({ resources: { memoryMB: -1 } }) }), 'tasks.a.resources.memoryMB', 'must be ≥ 0'],
    ['half a GPU', job({ a: handler({ resources: { gpu: 0.5 } }) }), 'tasks.a.resources.gpu', 'whole number'],
    ['a bad custom resource name', job({ a: handler({ resources: { custom: { 'a b': 1 } } }) }), 'tasks.a.resources.custom.a b', 'resource names'],
    ['a negative custom resource', job({ a: handler({ resources: { custom: { lic: -1 } } }) }), 'tasks.a.resources.custom.lic', 'must be ≥ 0'],
    ['an unknown dependency', job({ sample: handler(), a: handler({ after: ['sampel'] }) }), 'tasks.a.after.0', 'unknown task "sampel" (did you mean "sample"?)'],
    ['a self-dependency', job({ a: handler({ after: ['a'] }) }), 'tasks.a.after.0', 'a task cannot depend on itself'],
    ['a duplicate dependency', job({ a: handler(), b: handler({ after: ['a', 'a'] }) }), 'tasks.b.after.1', 'duplicate: "a" is already listed'],
    ['after as a string', job({ a: handler(), b: handler({ after: 'a' }) }), 'tasks.b.after', 'must be a list'],
    ['too many retries', job({ a: handler({ retries: 101 }) }), 'tasks.a.retries', 'from 0 to 100'],
    ['priority out of range', job({ a: handler({ priority: 1001 }) }), 'tasks.a.priority', 'from -1000 to 1000'],
    ['timeout 0', job({ a: handler({ timeoutMs: 0 }) }), 'tasks.a.timeoutMs', 'whole number of milliseconds from 1 to 604800000'],
    ['a timeout over 7 days', job({ a: handler({ timeoutMs: 7 * 24 * 3600_000 + 1 }) }), 'tasks.a.timeoutMs', 'from 1 to 604800000'],
    ['estimate 0', job({ a: handler({ estimateMs: 0 }) }), 'tasks.a.estimateMs', '> 0'],
    ['an empty handler name', job({ a: handler({ handler: '' }) }), 'tasks.a.handler', 'must not be empty'],
    ['a handler name too long', job({ a: handler({ handler: tooLong }) }), 'tasks.a.handler', 'at most 128 characters'],
    ['an empty command', job({ a: exec({ command: [] }) }), 'tasks.a.command', 'needs at least the program to run'],
    ['an empty argument', job({ a: exec({ command: ['echo', ''] }) }), 'tasks.a.command.1', 'must not be empty'],
    ['a NUL in an argument', job({ a: exec({ command: ['echo', 'a\0b'] }) }), 'tasks.a.command.1', 'NUL'],
    ['`..` in outputs', job({ a: exec({ outputs: ['ok', 'out/../../etc/x'] }) }), 'tasks.a.outputs.1', 'must not contain ".." segments'],
    ['a bare `..` output', job({ a: exec({ outputs: ['..'] }) }), 'tasks.a.outputs.0', '".."'],
    ['an absolute output', job({ a: exec({ outputs: ['/tmp/x'] }) }), 'tasks.a.outputs.0', 'not absolute'],
    ['an output naming the scratch dir itself', job({ a: exec({ outputs: ['./'] }) }), 'tasks.a.outputs.0', 'must name a file'],
    ['a duplicate output', job({ a: exec({ outputs: ['a', 'a'] }) }), 'tasks.a.outputs.1', 'duplicate'],
    ['an absolute input path key', job({ a: exec({ inputs: { '/etc/passwd': 'p' } }) }), 'tasks.a.inputs./etc/passwd', 'must be a relative path inside the scratch directory, not absolute'],
    ['a Windows absolute input key', job({ a: exec({ inputs: { 'C:\\x': 'p' } }) }), 'tasks.a.inputs.C:\\x', 'not absolute'],
    ['`..` behind a backslash', job({ a: exec({ inputs: { 'a\\..\\..\\x': 'p' } }) }), 'tasks.a.inputs.a\\..\\..\\x', '".."'],
    ['an empty input source', job({ a: exec({ inputs: { x: '' } }) }), 'tasks.a.inputs.x', 'must not be empty'],
    ['an env key starting with a digit', job({ a: exec({ env: { '1X': 'v' } }) }), 'tasks.a.env.1X', 'environment variable names'],
    ['an env key with a dash', job({ a: exec({ env: { 'A-B': 'v' } }) }), 'tasks.a.env.A-B', 'environment variable names'],
    ['a number as an env value', job({ a: exec({ env: { A: 1 } }) }), 'tasks.a.env.A', 'must be a string'],
    ['shell as a string', job({ a: exec({ shell: 'yes' }) }), 'tasks.a.shell', 'must be true or false'],
    ['an empty tag', job({ a: handler({ tags: [''] }) }), 'tasks.a.tags.0', 'must not be empty'],
    ['a task name with brackets', job({ 'a[1]': handler() }), 'tasks.a[1]', 'task names use letters'],
    ['a task name too long', job({ ['t'.repeat(65)]: handler() }), `tasks.${'t'.repeat(65)}`, 'task names use letters'],
    ['a task named __proto__', JSON.parse('{"name":"j","tasks":{"__proto__":{"kind":"handler","handler":"h"}}}'), 'tasks.__proto__', 'not allowed'],
    ['an env var named __proto__', JSON.parse('{"name":"j","tasks":{"a":{"kind":"exec","command":["x"],"env":{"__proto__":"v"}}}}'), 'tasks.a.env.__proto__', 'not allowed'],
    ['no tasks', job({}), 'tasks', 'needs at least one task'],
    ['too many tasks', job(Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`t${i}`, handler()]))), 'tasks', 'at most 1000 tasks (found 1001)'],
    ['too many instances', job({ a: handler({ count: 60_000 }), b: handler({ count: 40_000 }), c: handler() }), 'tasks', 'too many task instances: 100001 in all (at most 100000)'],
    ['a function as input', job({ a: handler({ input: { f: () => 1 } }) }), 'tasks.a.input.f', 'a function is not'],
    ['a bigint as input', job({ a: handler({ input: [1n] }) }), 'tasks.a.input.0', 'a bigint is not'],
    ['undefined inside input', job({ a: handler({ input: { u: undefined } }) }), 'tasks.a.input.u', 'undefined is not'],
    ['NaN inside input', job({ a: handler({ input: { n: NaN } }) }), 'tasks.a.input.n', 'finite number'],
    ['a Date inside input', job({ a: handler({ input: { d: new Date(0) } }) }), 'tasks.a.input.d', 'a Date is not'],
    ['input nested too deep', job({ a: handler({ input: nested(JOB_LIMITS.maxInputDepth + 1) }) }), 'tasks.a.input', 'nested at most 512 levels'],
    ['a spec over 16 MiB', job({ a: handler({ input: 'x'.repeat(JOB_LIMITS.maxSpecBytes) }) }), '(root)', 'at most 16 MiB']
  ]

  it.each(cases)('%s', (_what, raw, path, fragment) => {
    const err = specError(raw)
    const at = err.problems.filter(p => p.path === path)
    expect(at, `problems: ${JSON.stringify(err.problems)}`).not.toHaveLength(0)
    expect(at.map(p => p.problem).join('\n')).toMatch(typeof fragment === 'string' ? new RegExp(escape(fragment)) : fragment)
    expect(err.message).toContain(`${path}: `)
  })

  it('a cyclic input value', () => {
    const input: Record<string, unknown> = { a: 1 }
    input.self = input
    expect(specError(job({ a: handler({ input }) })).problems).toContainEqual({ path: 'tasks.a.input.self', problem: expect.stringContaining('cycle') })
  })

  it('a 2-node cycle, with its path', () => {
    const err = specError(job({ a: handler({ after: ['b'] }), b: handler({ after: ['a'] }) }))
    expect(err.problems).toEqual([{ path: 'tasks', problem: 'dependency cycle a → b → a' }])
    expect(err.message).toContain('tasks: dependency cycle a → b → a')
  })

  it('a 3-node cycle, with its path in the direction work flows', () => {
    // c runs before a, a before b, b before c.
    const err = specError(job({ a: handler({ after: ['c'] }), b: handler({ after: ['a'] }), c: handler({ after: ['b'] }), d: handler({ after: ['c'] }) }))
    expect(err.problems).toEqual([{ path: 'tasks', problem: 'dependency cycle a → b → c → a' }])
  })

  it('every separate cycle, and nothing for tasks merely downstream of one', () => {
    const err = specError(job({
      x: handler({ after: ['y'] }), y: handler({ after: ['x'] }), after: handler({ after: ['x', 'q'] }), p: handler({ after: ['q'] }), q: handler({ after: ['p', 'y'] })
    }))
    expect(err.problems.map(p => p.problem)).toEqual(['dependency cycle x → y → x', 'dependency cycle p → q → p'])
  })

  it('reports every problem at once, with the source', () => {
    const err = specError({
      name: 'j',
      extra: true,
      tasks: {
        train: handler({ resources: { cpu: 0 }, count: 0 }),
        plot: exec({ outputs: ['../x'], env: { 'bad-key': 'v' }, after: ['trian'] }),
        x: { kind: 'shell' }
      }
    }, 'job.json')
    expect(err).toBeInstanceOf(MeshError)
    expect(err.code).toBe('MESH_ERR_JOB_SPEC')
    expect(err.problems.map(p => p.path).sort()).toEqual([
      'extra', 'tasks.plot.after.0', 'tasks.plot.env.bad-key', 'tasks.plot.outputs.0', 'tasks.train.count', 'tasks.train.resources.cpu', 'tasks.x.kind'
    ])
    expect(err.message).toMatch(/^job\.json: /)
    expect(err.message).toContain('tasks.train.resources.cpu: must be > 0')
    expect(err.message).toContain('tasks.plot.after.0: unknown task "trian" (did you mean "train"?)')
  })

  it('survives a huge list of problems (no argument-spread overflow)', () => {
    const err = specError(job({ a: handler({ after: Array.from({ length: 200_000 }, (_, i) => `zz${i}`) }) }))
    expect(err.problems).toHaveLength(200_000)
  })

  it('keeps a long list of problems out of the message but in `problems`', () => {
    const err = specError(job(Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`t${i}`, handler({ retries: -1 })]))))
    expect(err.problems).toHaveLength(30)
    expect(err.message).toContain('… and 10 more')
  })
})

describe('expandJob', () => {
  it('gives ids and indices: name[i] for fan-out, name otherwise, in dependency order', () => {
    const instances = expandJob(parseJobSpec(PI))
    expect(instances.map(i => i.id)).toEqual([
      ...Array.from({ length: 32 }, (_, i) => `sample[${i}]`), 'reduce', 'plot[0]', 'plot[1]', 'plot[2]', 'plot[3]'
    ])
    expect(instances[5]).toEqual(expect.objectContaining({ id: 'sample[5]', name: 'sample', index: 5, count: 32, after: [] }))
    const reduce = instances[32]
    expect(reduce).toEqual(expect.objectContaining({ id: 'reduce', name: 'reduce', index: 0, after: ['sample'] }))
    expect(reduce).not.toHaveProperty('count')
    expect(countInstances(parseJobSpec(PI))).toBe(instances.length)
  })

  it('replaces every {i} in exec fields (input sources too, so each instance can stage its own file), and leaves handler input alone', () => {
    const spec = parseJobSpec(job({
      e: exec({ count: 3, command: ['run', '--part={i}/{i}'], env: { PART: 'p{i}', FIXED: 'f' }, stdin: 'line {i}\n', inputs: { 'in-{i}.csv': 'data/{i}.csv' }, outputs: ['out/{i}.png', 'log.txt'] }),
      h: handler({ count: 2, input: { file: 'x-{i}' } })
    }))
    const [e0, e1, e2, h0, h1] = expandJob(spec)
    expect(e2?.spec).toEqual({
      ...spec.tasks.e, command: ['run', '--part=2/2'], env: { PART: 'p2', FIXED: 'f' }, stdin: 'line 2\n', inputs: { 'in-2.csv': 'data/2.csv' }, outputs: ['out/2.png', 'log.txt']
    })
    expect((e0?.spec as ExecTaskSpec).command).toEqual(['run', '--part=0/0'])
    expect((e1?.spec as ExecTaskSpec).outputs).toEqual(['out/1.png', 'log.txt'])
    expect((spec.tasks.e as ExecTaskSpec).command).toEqual(['run', '--part={i}/{i}'])
    expect(h0?.spec).toBe(spec.tasks.h)
    expect(h1?.spec).toEqual(expect.objectContaining({ input: { file: 'x-{i}' } }))
  })

  it('replaces {i} with 0 in a task without count, and shares specs without placeholders', () => {
    const spec = parseJobSpec(job({ one: exec({ command: ['echo', '{i}'] }), plain: exec({ count: 2 }) }))
    const [one, p0, p1] = expandJob(spec)
    expect(one?.spec).toEqual(expect.objectContaining({ command: ['echo', '0'] }))
    expect(p0?.spec).toBe(spec.tasks.plain)
    expect(p1?.spec).toBe(spec.tasks.plain)
  })

  it('orders a diamond a → b,c → d, whatever the order in the file', () => {
    const spec = parseJobSpec(job({ d: handler({ after: ['b', 'c'] }), c: handler({ after: ['a'], count: 2 }), b: handler({ after: ['a'] }), a: handler() }))
    expect(topologicalOrder(spec)).toEqual(['a', 'c', 'b', 'd'])
    expect(expandJob(spec).map(i => i.id)).toEqual(['a', 'c[0]', 'c[1]', 'b', 'd'])
    expect(dependents(spec)).toEqual(new Map([['d', []], ['c', ['d']], ['b', ['d']], ['a', ['c', 'b']]]))
  })

  it('puts every instance after all instances of its upstream tasks, for random DAGs', () => {
    fc.assert(fc.property(randomDag(), ({ spec }) => {
      const parsed = parseJobSpec(spec)
      const instances = expandJob(parsed)
      expect(instances).toHaveLength(countInstances(parsed))
      expect(new Set(instances.map(i => i.id)).size).toBe(instances.length)
      const last = new Map<string, number>()
      const first = new Map<string, number>()
      instances.forEach((inst, pos) => {
        if (!first.has(inst.name)) first.set(inst.name, pos)
        last.set(inst.name, pos)
        expect(inst.id).toBe(taskId(inst.name, inst.index, parsed.tasks[inst.name]?.count))
      })
      for (const inst of instances) {
        const pos = instances.indexOf(inst)
        for (const up of inst.after) expect(last.get(up)).toBeLessThan(pos)
      }
      // Each task's instances are contiguous and by index.
      for (const [name, task] of Object.entries(parsed.tasks)) {
        const start = first.get(name) ?? -1
        expect(instances.slice(start, start + (task.count ?? 1)).map(i => i.index)).toEqual(Array.from({ length: task.count ?? 1 }, (_, i) => i))
      }
    }), { numRuns: 200 })
  })

  it('accepts a random graph exactly when it has no cycle, and every reported cycle is real', () => {
    const graph = fc.integer({ min: 1, max: 8 }).chain(n => fc.record({
      n: fc.constant(n),
      // Self-edges are dropped below rather than filtered here: with n = 1 a filter could never succeed.
      edges: fc.uniqueArray(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: 16, selector: ([a, b]) => `${a}>${b}` })
        .map(es => es.filter(([a, b]) => a !== b))
    }))
    fc.assert(fc.property(graph, ({ n, edges }) => {
      const after = Array.from({ length: n }, (_, v) => edges.filter(([, b]) => b === v).map(([a]) => `t${a}`))
      const raw = job(Object.fromEntries(after.map((ups, v) => [`t${v}`, handler({ after: ups })])))
      let cycles: string[] = []
      try { parseJobSpec(raw) } catch (err) { cycles = (err as JobSpecError).problems.map(p => p.problem) }
      expect(cycles.length === 0).toBe(isAcyclic(n, edges))
      for (const c of cycles) {
        const path = c.replace('dependency cycle ', '').split(' → ')
        expect(path[0]).toBe(path.at(-1))
        for (let i = 0; i + 1 < path.length; i++) expect(after[Number(path[i + 1]?.slice(1))]).toContain(path[i])
      }
    }), { numRuns: 300 })
  })

  it('topologicalOrder refuses a hand-built spec with a cycle or an unknown upstream', () => {
    const spec = parseJobSpec(job({ a: handler(), b: handler({ after: ['a'] }) }))
    const cyclic: JobSpec = { ...spec, tasks: { ...spec.tasks, a: { ...spec.tasks.a, after: ['b'] } as JobSpec['tasks'][string] } }
    expect(() => topologicalOrder(cyclic)).toThrow(/dependency cycle a → b → a/)
    const dangling: JobSpec = { ...spec, tasks: { ...spec.tasks, a: { ...spec.tasks.a, after: ['zz'] } as JobSpec['tasks'][string] } }
    expect(() => expandJob(dangling)).toThrow(JobSpecError)
  })
})

describe('upstreamFor', () => {
  const spec = parseJobSpec(job({ fan: handler({ count: 3 }), one: handler(), down: handler({ after: ['fan', 'one'] }), src: handler() }))
  const resultOf = (id: string) => `result of ${id}`

  it('gives fan-out results as an array by index and single results as the value', () => {
    expect(upstreamFor(spec, 'down', resultOf)).toEqual({
      fan: ['result of fan[0]', 'result of fan[1]', 'result of fan[2]'],
      one: 'result of one'
    })
  })

  it('is empty for a task with no upstream', () => {
    expect(upstreamFor(spec, 'src', resultOf)).toEqual({})
  })

  it('refuses an unknown task', () => {
    expect(() => upstreamFor(spec, 'nope', resultOf)).toThrow(JobSpecError)
  })
})

/** A random DAG: edges only from lower to higher index; names and key order shuffled. */
function randomDag () {
  return fc.integer({ min: 1, max: 12 }).chain(n => fc.record({
    names: fc.shuffledSubarray(Array.from({ length: n }, (_, i) => `t${i}`), { minLength: n, maxLength: n }),
    keyOrder: fc.shuffledSubarray(Array.from({ length: n }, (_, i) => i), { minLength: n, maxLength: n }),
    edges: fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: 30 }),
    counts: fc.array(fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }), { minLength: n, maxLength: n })
  })).map(({ names, keyOrder, edges, counts }) => {
    const after = names.map(() => new Set<string>())
    for (const [a, b] of edges) if (a < b) after[b]?.add(names[a] as string)
    const tasks = Object.fromEntries(keyOrder.map(v => [names[v], handler({ after: [...after[v] ?? []], ...(counts[v] === undefined ? {} : { count: counts[v] }) })]))
    return { spec: job(tasks) }
  })
}

/** Reference check by depth-first search (independent of the code under test). */
function isAcyclic (n: number, edges: Array<[number, number]>): boolean {
  const state = new Array<number>(n).fill(0)
  const visit = (v: number): boolean => {
    if (state[v] === 1) return false
    if (state[v] === 2) return true
    state[v] = 1
    for (const [a, b] of edges) if (a === v && !visit(b)) return false
    state[v] = 2
    return true
  }
  return Array.from({ length: n }, (_, v) => v).every(visit)
}

function nested (depth: number): unknown {
  let v: unknown = 0
  for (let i = 0; i < depth; i++) v = [v]
  return v
}

function escape (s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
