// Server-sent state: a hook that subscribes to one stream and gives its latest value.
import { useEffect, useState } from 'preact/hooks'

/** The latest `state` event of `url`, and whether the stream is live. `null` state: the thing is gone. */
export function useStream (url) {
  const [state, setState] = useState(undefined)
  const [live, setLive] = useState(false)
  useEffect(() => {
    setState(undefined)
    const events = new EventSource(url)
    events.addEventListener('state', e => { setState(JSON.parse(e.data)); setLive(true) })
    events.onerror = () => { setLive(false) }
    return () => { events.close() }
  }, [url])
  return { state, live }
}

/** The location hash as a route: `#/jobs/ID` → ['jobs', 'ID']. */
export function useRoute () {
  const read = () => location.hash.replace(/^#\/?/, '').split('/').filter(s => s !== '').map(decodeURIComponent)
  const [route, setRoute] = useState(read)
  useEffect(() => {
    const on = () => { setRoute(read()) }
    window.addEventListener('hashchange', on)
    return () => { window.removeEventListener('hashchange', on) }
  }, [])
  return route
}
