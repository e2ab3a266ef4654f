// The period picker: the two dates only for a custom range.
const form = document.querySelector(".period-picker");
const select = document.getElementById("period");
if (form && select) {
  form.classList.add("scripted");
  const show = () => form.classList.toggle("is-custom", select.value === "custom");
  select.addEventListener("change", show);
  show();
}
