/**
 * Form fields into request JSON. Empty fields are left out, so the server's defaults (written down in its zod
 * schemas) apply instead of ones invented here; number inputs become numbers.
 */

/**
 * Reads the named fields of `form`: numbers from number inputs, text from the rest, empty ones omitted.
 * @param {HTMLFormElement} form
 * @returns {Record<string, any>}
 */
export const formValues = (form) => {
  /** @type {Record<string, any>} */
  const out = {};
  for (const field of form.querySelectorAll('input[name], textarea[name], select[name]')) {
    const input = /** @type {HTMLInputElement} */ (field);
    if (input.closest('.stages') || input.type === 'file') continue; // stage pickers and uploads have their own readers
    const raw = input.value.trim();
    if (raw === '') continue;
    out[input.name] = input.type === 'number' ? Number(raw) : raw;
  }
  return out;
};

/**
 * The generate request from the generate form; embeddings are one server path a line.
 * @param {HTMLFormElement} form
 * @param {Record<string, unknown> | undefined} pipeline the stage picker's choice
 * @returns {Record<string, any>}
 */
export const generateRequest = (form, pipeline) => {
  const { embeddings, ...v } = formValues(form);
  const paths = (embeddings ?? '')
    .split('\n')
    .map((/** @type {string} */ s) => s.trim())
    .filter(Boolean);
  return { ...v, ...(paths.length ? { embeddings: paths } : {}), ...(pipeline ? { pipeline } : {}) };
};

/**
 * The train request from the train form; `images` is omitted when files are uploaded instead.
 * @param {HTMLFormElement} form
 * @param {Record<string, unknown> | undefined} pipeline the stage picker's choice
 * @param {boolean} uploading
 * @returns {Record<string, any>}
 */
export const trainRequest = (form, pipeline, uploading) => {
  const { images, ...v } = formValues(form);
  return { ...v, ...(uploading || !images ? {} : { images }), ...(pipeline ? { pipeline } : {}) };
};

/**
 * Fills `form`'s fields from settings (a past result's, for "reuse settings"): each named field that the settings
 * hold is set, embeddings one a line; fields the settings lack are left as they are.
 * @param {HTMLFormElement} form
 * @param {Record<string, unknown>} settings
 * @returns {string[]} the names of the fields it set
 */
export const fillForm = (form, settings) => {
  const set = [];
  for (const input of form.querySelectorAll('input[name], textarea[name], select[name]')) {
    const field = /** @type {HTMLInputElement} */ (input);
    if (field.closest('.stages') || field.type === 'file' || !(field.name in settings)) continue;
    const v = settings[field.name];
    field.value = v == null ? '' : Array.isArray(v) ? v.join('\n') : String(v);
    set.push(field.name);
  }
  return set;
};

/**
 * Wires a drop zone and a file input to one list of files, shown as thumbnails; a drop also becomes the input's
 * files, so the input never names other files than the list shows. Returns a getter for the current files.
 * @param {HTMLElement} zone
 * @param {HTMLInputElement} input
 * @param {HTMLElement} list
 * @returns {() => File[]}
 * @example const files = dropZone(zoneEl, inputEl, listEl); files() // File[]
 */
export const dropZone = (zone, input, list) => {
  /** @type {File[]} */
  let files = [];
  /** @type {string[]} */
  let urls = [];
  const show = () => {
    for (const u of urls) URL.revokeObjectURL(u);
    urls = files.map((f) => URL.createObjectURL(f));
    list.replaceChildren(
      ...files.map((f, i) => {
        const li = document.createElement('li');
        const img = Object.assign(document.createElement('img'), { src: urls[i], alt: f.name, className: 'thumb' });
        li.append(img, `${f.name} (${Math.ceil(f.size / 1024)} KiB)`);
        li.title = f.name;
        return li;
      }),
    );
    zone.dataset.files = String(files.length);
  };
  const take = (/** @type {FileList | File[]} */ fileList) => {
    files = [...fileList].filter((f) => f.type.startsWith('image/') || /\.(png|jpe?g|webp)$/i.test(f.name));
    // Setting files from script fires no change event, so this does not loop.
    const dt = new DataTransfer();
    for (const f of files) dt.items.add(f);
    input.files = dt.files;
    show();
  };
  zone.addEventListener('dragover', (e) => {
    e.preventDefault(); // without this the browser opens the dropped file instead
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    take(e.dataTransfer?.files ?? []);
  });
  input.addEventListener('change', () => take(input.files ?? []));
  return () => files;
};
