/**
 * Regressions from fuzzing the decoders (test/fuzz) and from probing job
 * files as a new user would: each input here once crashed, hung, or was let
 * through changed or unbounded. Every refusal is one sentence.
 */
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Packr } from 'msgpackr'
import { afterAll, describe, expect, it } from 'vitest'
import { MAX_MAP_ENTRIES, MAX_MESSAGE_CONTAINERS, MAX_MESSAGE_DEPTH, MAX_MESSAGE_MAP_ENTRIES, decodeValue, encodeMessage } from '../../protocols/codec.ts'
import { decodeTaskMessage, taskMsg } from '../../protocols/task.ts'
import { JOB_LIMITS, JobSpecError, parseJobSpec } from '../../src/jobs/spec.ts'
import { MeshError } from '../../src/errors.ts'
import { CONTROL_BODY_LIMIT } from '../../node/control/api.ts'
import { ControlClient } from '../../node/control/client.ts'
import { HttpError, parseJsonBody } from '../../node/control/http.ts'
import { submitRequestOf } from '../../node/control/jobs-routes.ts'
import { MAX_INPUT_FILES_BYTES, MAX_JOB_FILE_BYTES, parseJobFile, readJobFile, readJobFiles } from '../../node/job-files.ts'
import { MAX_CONFIG_FILE_BYTES, readConfigJson } from '../../node/config-paths.ts'
import { FileTooLarge, readFileAtMost } from '../../node/bounded-read.ts'
import { MAX_JSON_DEPTH, jsonDepth, parseJsonText } from '../../node/json-input.ts'

const dir = mkdtempSync(join(tmpdir(), 'meshwork-hostile-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

const deepText = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth)
const deepValue = (depth: number): unknown => { let v: unknown = 0; for (let i = 0; i < depth; i++) v = [v]; return v }
const oneSentence = (message: string): void => { expect(message).not.toMatch(/\n|\n\s+at /) }

describe('wire messages', () => {
  it('refuses msgpackr\'s structured-clone references: a peer cannot send a value that contains itself', () => {
    // Such a value decoded, and re-encoding it (journal, next message) overflowed the stack.
    const cyclic: unknown[] = [1]
    cyclic.push(cyclic)
    const sender = new Packr({ structuredClone: true, useRecords: false })
    const refused = { ok: false, reason: 'malformed', detail: 'msgpack with a structured-clone reference (extension 0x69), which Meshwork never sends' }
    expect(decodeTaskMessage(sender.pack(taskMsg.checkpoint('j', { taskId: 't', attempt: 1 }, { state: cyclic })))).toEqual(refused)
    expect(decodeValue(sender.pack(cyclic))).toEqual({ ok: false, detail: refused.detail })
  })

  it(`refuses a value nested deeper than ${MAX_MESSAGE_DEPTH} levels, which decodes but cannot be encoded again`, () => {
    // msgpackr decodes ~4,300 levels but packs only ~1,400: the origin could not journal such a result.
    const deep = new Uint8Array(2001).fill(0x91)
    deep[2000] = 0x90
    expect(() => encodeMessage(deepValue(2000))).toThrow(RangeError)
    expect(decodeValue(deep)).toEqual({ ok: false, detail: `nested more than ${MAX_MESSAGE_DEPTH} levels deep` })
    const result = taskMsg.result('j', [{ taskId: 't', attempt: 1, ok: true, value: 'DEEP', durationMs: 1 }])
    const bytes = Buffer.from(encodeMessage(result))
    const at = bytes.indexOf(Buffer.from(encodeMessage('DEEP')))
    const hostile = Buffer.concat([bytes.subarray(0, at), deep, bytes.subarray(at + encodeMessage('DEEP').byteLength)])
    expect(decodeTaskMessage(hostile)).toEqual({ ok: false, reason: 'malformed', detail: `nested more than ${MAX_MESSAGE_DEPTH} levels deep` })
  })

  it('names a bad version in a few words, whatever the peer put there', () => {
    // String() of the peer's value joined a whole array (and overflowed the stack on a deep one).
    expect(decodeTaskMessage(encodeMessage({ v: Array.from({ length: 100_000 }, () => [1, 2]), type: 'ack' }))).toEqual({ ok: false, reason: 'version', detail: 'v=an array, expected 1' })
    expect(decodeTaskMessage(encodeMessage({ v: 'x'.repeat(10_000), type: 'ack' }))).toEqual({ ok: false, reason: 'version', detail: `v=${'x'.repeat(40)}, expected 1` })
  })

  it(`refuses a map of more than ${MAX_MAP_ENTRIES} entries before building it (1.5 million keys held a daemon 9 s)`, () => {
    const map = (n: number): Record<string, number> => { const o: Record<string, number> = {}; for (let i = 0; i < n; i++) o[`k${i}`] = 0; return o }
    const award = (upstream: Record<string, unknown>): Uint8Array => encodeMessage(taskMsg.award('j', 1, [{ taskId: 't', attempt: 1, index: 0, kind: 'handler', handler: 'h', input: null, demand: { cpu: 1, memoryMB: 0, gpu: 0, custom: {} }, upstream }]))
    expect(decodeTaskMessage(award(map(MAX_MAP_ENTRIES + 1)))).toEqual({ ok: false, reason: 'malformed', detail: `a map of ${MAX_MAP_ENTRIES + 1} entries (at most ${MAX_MAP_ENTRIES})` })
    expect(decodeTaskMessage(award(map(MAX_MAP_ENTRIES))).ok).toBe(true)
    // A result blob is no message: any size.
    expect(decodeValue(encodeMessage(map(MAX_MAP_ENTRIES + 1))).ok).toBe(true)
  })

  it(`refuses more than ${MAX_MESSAGE_MAP_ENTRIES} map entries in one message (40 maps of 65,536 held a daemon 5.7 s)`, () => {
    const env: Record<string, string> = {}
    for (let i = 0; i < MAX_MAP_ENTRIES; i++) env[`E${i}`] = ''
    const task = (i: number) => ({ taskId: `t${i}`, attempt: 1, index: 0, kind: 'exec' as const, exec: { command: ['x'], env, inputs: {}, outputs: [], shell: false }, demand: { cpu: 1, memoryMB: 0, gpu: 0, custom: {} }, upstream: {} })
    const bytes = encodeMessage(taskMsg.award('j', 1, Array.from({ length: MAX_MESSAGE_MAP_ENTRIES / MAX_MAP_ENTRIES + 1 }, (_, i) => task(i))))
    expect(decodeTaskMessage(bytes)).toEqual({ ok: false, reason: 'malformed', detail: `more than ${MAX_MESSAGE_MAP_ENTRIES} map entries in all` })
  })

  it(`refuses more than ${MAX_MESSAGE_CONTAINERS} arrays and maps in one message (16 MiB of nested arrays took 2.5 s)`, () => {
    const state = Array.from({ length: MAX_MESSAGE_CONTAINERS }, () => [])
    expect(decodeTaskMessage(encodeMessage(taskMsg.checkpoint('j', { taskId: 't', attempt: 1 }, { state })))).toEqual({ ok: false, reason: 'malformed', detail: `more than ${MAX_MESSAGE_CONTAINERS} arrays and maps in all` })
  })

  it('still decodes everything our encoder writes: typed arrays, dates, sets, errors, regular expressions, big integers, undefined', () => {
    const value = { f: new Float32Array([1.5, 2]), d: new Date(5), s: new Set([1, [2, { a: 3 }]]), e: new Error('x'), r: /a+b/g, b: 2n ** 100n, u: undefined, n: [null, true, -1, 1.5, 'é'] }
    const d = decodeValue(encodeMessage(value))
    expect(d).toEqual({ ok: true, value })
    expect(decodeTaskMessage(encodeMessage(taskMsg.checkpoint('j', { taskId: 't', attempt: 1 }, { state: value })))).toEqual({ ok: true, value: taskMsg.checkpoint('j', { taskId: 't', attempt: 1 }, { state: value }) })
  })

  it('still decodes a value nested as deep as a job input may be', () => {
    const value = deepValue(JOB_LIMITS.maxInputDepth)
    expect(decodeValue(encodeMessage(value))).toEqual({ ok: true, value })
  })
})

describe('job specs', () => {
  it('refuses a "__proto__" key in a handler input: the wire would deliver it renamed', () => {
    const input = JSON.parse('{"a": {"__proto__": 1}}') as unknown
    const err = (() => { try { parseJobSpec({ name: 'j', tasks: { t: { kind: 'handler', handler: 'h', input } } }) } catch (e) { return e } })()
    expect(err).toBeInstanceOf(JobSpecError)
    expect((err as JobSpecError).problems).toContainEqual({ path: 'tasks.t.input.a', problem: 'must not have a key named "__proto__" (it does not arrive as sent)' })
  })

  it(`refuses a handler input object of more than ${MAX_MAP_ENTRIES} keys, which no message could carry`, () => {
    const input: Record<string, number> = {}
    for (let i = 0; i <= MAX_MAP_ENTRIES; i++) input[`k${i}`] = i
    const err = (() => { try { parseJobSpec({ name: 'j', tasks: { t: { kind: 'handler', handler: 'h', input: { big: input } } } }) } catch (e) { return e as JobSpecError } })()
    expect(err?.problems).toContainEqual({ path: 'tasks.t.input.big', problem: `must have at most ${MAX_MAP_ENTRIES} keys in one object (the wire takes no larger map)` })
  })

  it('finds the cycle behind a 32,000-task chain at once (re-scanning the chain after each cycle took 43 s)', () => {
    const tasks: Record<string, unknown> = {}
    for (let i = 31_999; i >= 1; i--) tasks[`t${i}`] = { kind: 'handler', handler: 'h', after: [`t${i - 1}`] }
    tasks.t0 = { kind: 'handler', handler: 'h', after: ['c1'] }
    tasks.c1 = { kind: 'handler', handler: 'h', after: ['c2'] }
    tasks.c2 = { kind: 'handler', handler: 'h', after: ['c1'] }
    const err = (() => { try { parseJobSpec({ name: 'j', tasks }) } catch (e) { return e as JobSpecError } })()
    expect(err?.problems).toContainEqual({ path: 'tasks', problem: 'dependency cycle c1 → c2 → c1' })
  })
})

describe('JSON from a file or a request', () => {
  it('measures nesting without recursing, and not inside strings', () => {
    expect(jsonDepth(deepText(100_000))).toBe(MAX_JSON_DEPTH + 1)
    expect(jsonDepth('{"a": "[[[[[[\\"[[[", "b": [[1]]}')).toBe(3)
    expect(Array.isArray(parseJsonText(deepText(MAX_JSON_DEPTH)))).toBe(true)
    expect(() => parseJsonText(deepText(MAX_JSON_DEPTH + 1))).toThrow(`it nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep, which no job, config or request needs`)
  })

  it('a job file nested 100,000 arrays deep is one MESH_ERR_JOB_SPEC sentence, not a stack overflow', () => {
    const text = `{"name":"x","tasks":${deepText(100_000)}}`
    const err = (() => { try { parseJobFile(Buffer.from(text), 'deep.json') } catch (e) { return e as MeshError } })()
    expect(err).toBeInstanceOf(MeshError)
    expect(err?.code).toBe('MESH_ERR_JOB_SPEC')
    expect(err?.message).toBe(`deep.json: it nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep, which no job, config or request needs`)
  })

  it('a control API body nested too deep is a 400, too large a 413, empty is no body', () => {
    const refusal = (body: string): HttpError => { try { parseJsonBody(Buffer.from(body), CONTROL_BODY_LIMIT) } catch (e) { return e as HttpError } throw new Error('accepted') }
    expect(refusal(`{"spec":${deepText(5000)}}`)).toMatchObject({ status: 400, message: expect.stringContaining(`more than ${MAX_JSON_DEPTH} levels deep`) })
    expect(refusal('{"spec": ')).toMatchObject({ status: 400, message: expect.stringMatching(/^request body is not JSON: /) })
    expect(() => parseJsonBody(new Uint8Array(11), 10)).toThrow(expect.objectContaining({ status: 413 }))
    expect(parseJsonBody(new Uint8Array(0), 10)).toBeUndefined()
  })

  it('a submit body: a file named "__proto__" is a file; anything but an object of base64 text is a 400', () => {
    const { files } = submitRequestOf(JSON.parse('{"spec": {}, "files": {"__proto__": "aGk="}}'))
    expect(Object.keys(files)).toEqual(['__proto__'])
    expect(Buffer.from(files.__proto__!).toString()).toBe('hi')
    for (const body of [null, 'x', [1], { spec: {}, files: [] }, { spec: {}, files: 'x' }, { spec: {}, files: { a: 1 } }]) {
      expect(() => submitRequestOf(body)).toThrow(HttpError)
    }
  })

  it('a config nested too deep names the file', () => {
    const file = join(dir, 'deep.config.json')
    writeFileSync(file, `{"tags": ${deepText(50_000)}}`)
    expect(() => readConfigJson(file)).toThrow(`config ${file}: it nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep`)
  })
})

describe('file sizes are checked before reading', () => {
  it('refuses a 10 GB job file without reading it, and says how large a job may be and where large data goes', async () => {
    const file = join(dir, 'huge.json')
    writeFileSync(file, '')
    truncateSync(file, 10 * 1024 ** 3) // sparse: no disk used
    await expect(readJobFile(file)).rejects.toThrow(`${file} is 10240.0 MiB, but a job file may be at most 16.0 MiB with its inline "input" values: give a task large data as an artifact instead ("artifacts": {"data.bin": "./data.bin"}; see Artifacts in the README)`)
  })

  it('refuses a config file over 1 MiB, and a device that never ends', () => {
    const file = join(dir, 'big.config.json')
    writeFileSync(file, '')
    truncateSync(file, MAX_CONFIG_FILE_BYTES + 1)
    expect(() => readConfigJson(file)).toThrow(`cannot read config ${file}: it is 1.0 MiB, and a config file may be at most 1.0 MiB`)
    return expect(readFileAtMost('/dev/zero', 4096)).rejects.toThrow(FileTooLarge)
  })

  it('refuses exec input files past the cap, naming the file that crossed it', async () => {
    writeFileSync(join(dir, 'a.bin'), Buffer.alloc(600))
    writeFileSync(join(dir, 'b.bin'), Buffer.alloc(600))
    const spec = { name: 'j', tasks: { t: { kind: 'exec', command: ['cat'], inputs: { a: 'a.bin', b: 'b.bin' } } } }
    expect(Object.keys(await readJobFiles(spec, dir, 1200))).toEqual(['a.bin', 'b.bin'])
    await expect(readJobFiles(spec, dir, 1000)).rejects.toThrow(/^input file b\.bin takes the job's exec input files past 0\.0 MiB, the most that travels with a job: give a task large data as an artifact/)
  })

  it('keeps the CLI\'s caps within what the daemon takes', () => {
    expect(MAX_JOB_FILE_BYTES).toBe(JOB_LIMITS.maxSpecBytes)
    expect(CONTROL_BODY_LIMIT).toBe(JOB_LIMITS.maxSpecBytes)
    expect(MAX_INPUT_FILES_BYTES * 4 / 3).toBeLessThanOrEqual(CONTROL_BODY_LIMIT)
  })

  it('the client refuses a job over the control API\'s body cap before connecting (an unreachable daemon is never tried)', async () => {
    const client = new ControlClient({ url: 'http://127.0.0.1:9', token: 'x' })
    const spec = { name: 'big', tasks: { t: { kind: 'handler', handler: 'h', input: 'x'.repeat(CONTROL_BODY_LIMIT) } } }
    const err = await client.submit(spec, { source: 'big.json' }).catch((e: unknown) => e as MeshError)
    expect(err).toMatchObject({ code: 'MESH_ERR_JOB_SPEC' })
    expect((err as MeshError).message).toMatch(/^big\.json: the job is 16\.0 MiB as sent to the daemon .*, but the daemon takes at most 16\.0 MiB: give a task large data as an artifact/)
    oneSentence((err as MeshError).message)
  })
})
