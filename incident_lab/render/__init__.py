"""Rendering: what the investigation's state looks like as text (`text`), HTML (`html`),
charts (`figures`), the template's sections (`sections`) and the live panel (`panel`).
Everything here reads state; nothing here changes it."""
