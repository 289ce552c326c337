-- wrk script for cutman's ingest benchmarks: Alertmanager webhooks of BENCH_ALERTS alerts.
-- BENCH_MODE=new: every alert of every request has labels never seen before (pod label
-- "<BENCH_TAG>-<request>-<k>"); BENCH_MODE=dup: every request is the same body, whose
-- alerts (pod "<BENCH_TAG>-<k>") the bench posted once beforehand, so all are duplicates.
-- BENCH_MODE=event: binary-mode CloudEvents with unique ids, for the dev broker alone.
-- done() prints one line "BENCH {json}" that bench/common.py reads.
local n = tonumber(os.getenv("BENCH_ALERTS") or "1")
local mode = os.getenv("BENCH_MODE") or "new"
local tag = os.getenv("BENCH_TAG") or "t"
local counter = 0

local head = '{"version":"4","groupKey":"{}:{alertname=\\"BenchAlert\\"}","truncatedAlerts":0,' ..
  '"status":"firing","receiver":"cutman","groupLabels":{"alertname":"BenchAlert"},"commonLabels":{},' ..
  '"commonAnnotations":{},"externalURL":"http://am.example:9093","alerts":['

local function alert(pod)
  return '{"status":"firing","labels":{"alertname":"BenchAlert","severity":"warning","pod":"' .. pod ..
    '","namespace":"bench"},"annotations":{"summary":"bench"},"startsAt":"2026-01-01T00:00:00Z",' ..
    '"endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":"0123456789abcdef"}'
end

local function body(prefix)
  local parts = {}
  for k = 1, n do parts[k] = alert(prefix .. "-" .. k) end
  return head .. table.concat(parts, ",") .. "]}"
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local fixed = nil  -- formatted at the first request: wrk sets the Host header only after loading

local event_headers = {["Content-Type"] = "application/json", ["ce-specversion"] = "1.0",
  ["ce-type"] = "dev.cutman.bench", ["ce-source"] = "/bench"}
local event_body = '{"alertname":"BenchAlert","labels":{"pod":"bench"}}'

request = function()
  if mode == "dup" then
    fixed = fixed or wrk.format(nil, nil, nil, body(tag))
    return fixed
  end
  if mode == "event" then
    counter = counter + 1
    event_headers["ce-id"] = tag .. "-" .. counter
    return wrk.format(nil, nil, event_headers, event_body)
  end
  counter = counter + 1
  return wrk.format(nil, nil, nil, body(tag .. "-" .. counter))
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"status":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"timeout":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
