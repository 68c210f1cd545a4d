// The studio's page: inputs and controls become a command line of style_transfer.py on the server;
// the jobs' state arrives as Server-Sent Events; past runs are read from the output folder.
"use strict";

const page = sessionStorage.getItem("studio-page") || crypto.randomUUID();
sessionStorage.setItem("studio-page", page);
const chosen = { "--content": [], "--style": [], "--content-mask": [], "--style-masks": [] };
const $ = (selector, root = document) => root.querySelector(selector);

function say(text, isError = false) {
  const message = $("#message");
  message.textContent = text;
  message.className = isError ? "error" : "";
}

async function call(url, options = {}) {
  const response = await fetch(url, { ...options, headers: { "X-Studio-Page": page, ...(options.headers || {}) } });
  const body = await response.json().catch(() => ({ error: `the server answered ${response.status}` }));
  if (!response.ok) throw new Error(body.error || `the server answered ${response.status}`);
  return body;
}

const fileUrl = (path, download = false) =>
  "/files/" + path.split("/").map(encodeURIComponent).join("/") + (download ? "?download=1" : "");

// --- inputs ---------------------------------------------------------------------------------------
async function upload(file, flag) {
  say(`sending ${file.name}…`);
  try {
    const sent = await call(`/api/upload?name=${encodeURIComponent(file.name)}`, { method: "POST", body: file });
    choose(flag, sent.path, sent.name);
    say(`${sent.name} is ready`);
  } catch (error) {
    say(error.message, true);
  }
}

function choose(flag, path, name) {
  if (flag === "--content" || flag === "--content-mask") chosen[flag] = [];
  chosen[flag].push({ path, name });
  showChosen();
}

function showChosen() {
  for (const [list, flags] of [["#content-chosen", ["--content"]], ["#style-chosen", ["--style"]],
    ["#masks-chosen", ["--content-mask", "--style-masks"]]]) {
    const items = flags.flatMap((flag) => chosen[flag].map((item, i) => ({ flag, item, i })));
    $(list).replaceChildren(...items.map(({ flag, item, i }) => {
      const li = document.createElement("li");
      li.textContent = `${item.name}${flags.length > 1 ? ` (${flag})` : ""}`;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "remove";
      remove.onclick = () => { chosen[flag].splice(i, 1); showChosen(); };
      li.append(remove);
      return li;
    }));
  }
}

function watchFileInput(id, flag) {
  $(id).addEventListener("change", async (event) => {
    for (const file of event.target.files) await upload(file, flag);
    event.target.value = "";
  });
}

// --- controls -------------------------------------------------------------------------------------
function buildControls(controls) {
  $("#controls").replaceChildren(...controls.map((control) => {
    const label = document.createElement("label");
    label.title = control.description;
    label.append(`${control.flag.slice(2)} `);
    let input;
    if (control.choices) {
      input = document.createElement("select");
      for (const choice of control.choices) input.append(new Option(choice, choice));
    } else {
      input = document.createElement("input");
    }
    input.name = control.flag;
    input.id = "control" + control.flag;
    input.value = control.default;
    input.dataset.default = control.default;
    label.append(input);
    return label;
  }));
}

async function start() {
  const values = {};
  for (const input of $("#controls").elements) values[input.name] = input.value;
  const files = Object.fromEntries(Object.entries(chosen).map(([flag, items]) => [flag, items.map((item) => item.path)]));
  try {
    const job = await call("/api/jobs", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ files, values, fresh: $("#fresh").checked }),
    });
    say(job.owner === page ? `job ${job.id} queued: ${job.command}` : `job ${job.id} is this run, painted from another page: watching it`);
  } catch (error) {
    say(error.message, true);
  }
}

// --- jobs -----------------------------------------------------------------------------------------
function jobCard(id) {
  let card = $(`.job[data-id="${id}"]`);
  if (!card) {
    card = $("#job-template").content.firstElementChild.cloneNode(true);
    card.dataset.id = id;
    $(".stop", card).onclick = () => act(id, "stop");
    $(".resume", card).onclick = () => act(id, "resume");
    $("#jobs").prepend(card);
  }
  return card;
}

async function act(id, action) {
  try {
    await call(`/api/jobs/${id}/${action}`, { method: "POST" });
  } catch (error) {
    say(error.message, true);
  }
}

function setLink(link, path) {
  link.hidden = !path;
  if (path) {
    link.href = fileUrl(path, true);
    link.download = path.split("/").pop();
  }
}

function showJob(job) {
  const card = jobCard(job.id);
  const mine = job.owner === page;
  card.dataset.state = job.state;
  $(".title", card).textContent = `job ${job.id}${job.folder ? ": " + job.folder : ""}`;
  $(".state", card).textContent = job.state;
  $(".place", card).textContent = job.place ? `place ${job.place} in the queue` : "";
  $(".watching", card).hidden = mine;
  $(".note", card).textContent = job.lines.filter((line) => /^(resuming|error|stopped)/.test(line)).join("\n");
  const progress = job.lines.filter((line) => /step|frame|result|done/.test(line));
  $(".progress", card).textContent = (progress.length ? progress : job.lines).slice(-3).join("\n");
  $(".command", card).textContent = job.command;
  $(".stop", card).disabled = !mine || !["queued", "running"].includes(job.state);
  $(".resume", card).disabled = !mine || !["stopped", "failed"].includes(job.state);
  const pictures = job.pictures || { snapshots: [], frames: [] };
  const latest = pictures.final || pictures.snapshots[pictures.snapshots.length - 1] || pictures.frames[pictures.frames.length - 1];
  const live = $(".live", card);
  if (latest && live.dataset.path !== latest) {
    live.dataset.path = latest;
    live.src = fileUrl(latest);
  }
  const frames = $(".frames", card);
  for (const path of pictures.frames.slice(frames.children.length)) {
    const item = document.createElement("li");
    item.innerHTML = `<img alt="frame" src="${fileUrl(path)}">`;
    frames.append(item);
  }
  setLink($(".download-final", card), pictures.final);
  setLink($(".download-sheet", card), pictures.sheet);
  setLink($(".download-video", card), pictures.video);
}

let ended = new Set();
function listen() {
  const events = new EventSource("/api/events");
  events.onmessage = (event) => {
    const { jobs } = JSON.parse(event.data);
    jobs.forEach(showJob);
    const nowEnded = new Set(jobs.filter((job) => ["finished", "stopped", "failed"].includes(job.state)).map((job) => `${job.id}:${job.state}`));
    if ([...nowEnded].some((key) => !ended.has(key))) showRuns();
    ended = nowEnded;
  };
}

// --- past runs ------------------------------------------------------------------------------------
function lossCurve(losses) {
  if (losses.length < 2) return "";
  const logs = losses.map((loss) => Math.log10(Math.max(loss, 1e-30)));
  const low = Math.min(...logs), high = Math.max(...logs) || low + 1;
  const points = logs.map((y, i) => `${(i / (logs.length - 1)) * 200},${58 - ((y - low) / (high - low || 1)) * 56}`);
  return `<svg width="200" height="60" aria-label="total loss (log scale)"><polyline fill="none" stroke="#2d3142" points="${points.join(" ")}"/></svg>`;
}

function runCard(run) {
  const card = document.createElement("article");
  card.className = "run";
  card.dataset.folder = run.folder;
  const link = (path, text) => (path ? `<a href="${fileUrl(path, true)}" download>${text}</a>` : "");
  card.innerHTML = `<header><b></b> <span class="status"></span></header>
    ${run.sheet ? `<img class="sheet" alt="sheet" src="${fileUrl(run.sheet)}">` : ""}
    ${lossCurve(run.losses)}
    <div class="actions">${link(run.final, "final picture")} ${link(run.sheet, "sheet")} ${link(run.video, "video (.webm)")}</div>
    <details><summary>settings</summary><pre></pre></details>`;
  $("b", card).textContent = run.folder;
  $(".status", card).textContent = run.status;
  $("pre", card).textContent = JSON.stringify(run.record, null, 1);
  return card;
}

async function showRuns() {
  try {
    const { runs } = await call("/api/runs");
    $("#runs").replaceChildren(...runs.map(runCard));
  } catch (error) {
    say(error.message, true);
  }
}

async function setUp() {
  const setup = await call("/api/setup");
  buildControls(setup.controls);
  $("#where").textContent = `runs go to ${setup.output_dir}${setup.passed_on.length ? " with " + setup.passed_on.join(" ") : ""}`;
  $("#upload-limit").textContent = `Photos, paintings, masks and clips up to ${setup.upload_max_mb} MB.`;
  for (const [select, flag] of [["#content-bundled", "--content"], ["#style-bundled", "--style"]]) {
    const offered = flag === "--content" ? setup.bundled : setup.bundled.filter((path) => !/\.(webm|mp4)$/i.test(path));
    for (const path of offered) $(select).append(new Option(path.split("/").pop(), path));
    $(select).addEventListener("change", (event) => {
      if (event.target.value) choose(flag, event.target.value, event.target.value.split("/").pop());
      event.target.value = "";
    });
  }
  watchFileInput("#content-file", "--content");
  watchFileInput("#style-file", "--style");
  watchFileInput("#content-mask-file", "--content-mask");
  watchFileInput("#style-masks-file", "--style-masks");
  $("#start").onclick = start;
  $("#refresh-runs").onclick = showRuns;
  listen();
  showRuns();
}

window.studio = { upload }; // the tests send files a browser's file picker cannot name (../x.png)
setUp().catch((error) => say(error.message, true));
