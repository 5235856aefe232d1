/**
 * Form fields into request JSON. Empty fields are left out, so the server's defaults (written down in its zod
 * schemas) apply instead of ones invented here; number inputs become numbers.
 */

/** Reads the named fields of `form`: numbers from number inputs, text from the rest, empty ones omitted. */
export const formValues = (form) => {
  const out = {};
  for (const input of form.querySelectorAll('input[name], textarea[name], select[name]')) {
    if (input.closest('.stages') || input.type === 'file') continue; // stage pickers and uploads have their own readers
    const raw = input.value.trim();
    if (raw === '') continue;
    out[input.name] = input.type === 'number' ? Number(raw) : raw;
  }
  return out;
};

/** The generate request from the generate form; embeddings are one server path a line. */
export const generateRequest = (form, pipeline) => {
  const { embeddings, ...v } = formValues(form);
  const paths = (embeddings ?? '')
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
  return { ...v, ...(paths.length ? { embeddings: paths } : {}), ...(pipeline ? { pipeline } : {}) };
};

/** The train request from the train form; `images` is omitted when files are uploaded instead. */
export const trainRequest = (form, pipeline, uploading) => {
  const { images, ...v } = formValues(form);
  return { ...v, ...(uploading || !images ? {} : { images }), ...(pipeline ? { pipeline } : {}) };
};

/**
 * Wires a drop zone and a file input to one list of files; returns a getter for the current files.
 * @example const files = dropZone(zoneEl, inputEl, listEl); files() // File[]
 */
export const dropZone = (zone, input, list) => {
  let files = [];
  const show = () => {
    list.replaceChildren(
      ...files.map((f) =>
        Object.assign(document.createElement('li'), { textContent: `${f.name} (${Math.ceil(f.size / 1024)} KiB)` }),
      ),
    );
    zone.dataset.files = files.length;
  };
  const take = (fileList) => {
    files = [...fileList].filter((f) => f.type.startsWith('image/') || /\.(png|jpe?g|webp)$/i.test(f.name));
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
