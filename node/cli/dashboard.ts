/** `mesh dashboard`: a one-time login link to the daemon's dashboard, opened in a browser when there is one. */
import { spawn } from 'node:child_process'
import { ControlClient } from '../control/client.ts'

export async function dashboardCommand (opts: { config?: string, open: boolean }): Promise<number> {
  const { url } = await ControlClient.find(opts.config).dashboardLogin()
  process.stdout.write(`${url}\n(the link works once, within a minute; it logs this browser in to the dashboard)\n`)
  if (opts.open) openBrowser(url)
  return 0
}

/** The platform's opener, detached; without one (a server, no display), the printed link is enough. */
export function openBrowser (url: string): void {
  const [cmd, ...args] = process.platform === 'darwin' ? ['open', url] : process.platform === 'win32' ? ['cmd', '/c', 'start', '', url] : ['xdg-open', url]
  if (process.platform === 'linux' && process.env.DISPLAY === undefined && process.env.WAYLAND_DISPLAY === undefined) return
  const child = spawn(cmd!, args, { detached: true, stdio: 'ignore' })
  child.on('error', () => {})
  child.unref()
}
